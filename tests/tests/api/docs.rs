//! The docs a newcomer reads stay true to the code: the README is short and
//! leads to every guide, every relative link lands on a file, and the
//! troubleshooting guide has an entry for every reason code the sync
//! stores, every code the launch and status routes answer with, and every
//! alarm the stack defines.

use std::path::PathBuf;

use ltisync::outcome::{FailCode, PendingReason};
use ltisync_tests::repo_root;
use strum::IntoEnumIterator;

/// The guides of docs/, each one task.
const GUIDES: [&str; 8] = [
    "docs/getting-started.md",
    "docs/writing-grades.md",
    "docs/deploying.md",
    "docs/operating.md",
    "docs/status-page.md",
    "docs/configuration.md",
    "docs/troubleshooting.md",
    "docs/how-it-works.md",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_readme_is_short_and_leads_to_every_guide() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines < 200, "README.md has {lines} lines");
    for guide in GUIDES
        .iter()
        .chain(&["CONTRIBUTING.md", "SECURITY.md", "LICENSE"])
    {
        assert!(
            readme.contains(&format!("]({guide}")),
            "README.md does not link {guide}"
        );
    }
}

#[test]
fn every_relative_link_lands_on_a_file() {
    let mut broken = Vec::new();
    for doc in GUIDES
        .iter()
        .chain(&["README.md", "CONTRIBUTING.md", "SECURITY.md"])
    {
        let text = read(doc);
        let base = repo_root().join(doc);
        let folder = base.parent().expect("a folder");
        for target in relative_links(&text) {
            if !folder.join(&target).exists() {
                broken.push(format!("{doc}: {}", target.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn troubleshooting_explains_every_code_and_alarm() {
    let guide = read("docs/troubleshooting.md");
    let pending = PendingReason::iter().map(|r| r.code().to_owned());
    let failed = FailCode::iter().map(|c| <&str>::from(c).to_owned());
    let answers = launch_codes();
    assert!(answers.len() >= 12, "the launch codes read: {answers:?}");
    let alarms = template_alarms();
    assert!(alarms.len() >= 9, "the alarms read: {alarms:?}");
    let missing: Vec<String> = pending
        .chain(failed)
        .chain(answers)
        .chain(alarms)
        .filter(|code| !guide.contains(&format!("| `{code}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no row for: {missing:?}"
    );
}

/// Targets of `](path)` links that are neither web addresses nor anchors,
/// without their `#fragment`.
fn relative_links(text: &str) -> Vec<PathBuf> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.starts_with("http") && !t.starts_with('#') && !t.starts_with("mailto:"))
        .map(|t| PathBuf::from(t.split('#').next().unwrap_or_default()))
        .collect()
}

/// Every `code` the launch function's routes answer with: the string
/// literal after each `StatusCode::…,` and each success code.
fn launch_codes() -> Vec<String> {
    let dir = repo_root().join("functions/launch/src");
    let mut codes = vec!["captured".to_owned()];
    for file in ["reply.rs", "lib.rs", "status_page.rs"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("launch source");
        for after in text.split("StatusCode::").skip(1) {
            let Some(rest) = after.split_once(',').map(|(_, r)| r.trim_start()) else {
                continue;
            };
            if let Some(code) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                if code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    codes.push(code.to_owned());
                }
            }
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

/// The logical ids of the template's CloudWatch alarms.
fn template_alarms() -> Vec<String> {
    let template: serde_norway::Value =
        serde_norway::from_str(&read("template.yaml")).expect("template.yaml parses");
    let resources = template["Resources"].as_mapping().expect("resources");
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .filter_map(|(name, _)| name.as_str().map(str::to_owned))
        .collect()
}
