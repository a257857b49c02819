//! SAM CLI as `make sam-local` runs it: the command lines (CONTRIBUTING.md's
//! "Local testing with SAM" section shows the same ones, and a test below
//! compares them), one `sam local invoke`, and a `sam local start-api`
//! server that stops when dropped.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

/// Every file in events/ and the function of template.yaml it is for.
pub const EVENTS: [(&str, &str); 9] = [
    ("LaunchFunction", "launch.json"),
    ("LaunchFunction", "launch-rest-api.json"),
    ("LaunchFunction", "launch-stage-prefix.json"),
    ("LaunchFunction", "launch-post-form.json"),
    ("LaunchFunction", "launch-missing-ltik.json"),
    ("LaunchFunction", "status.json"),
    ("SyncFunction", "schedule.json"),
    ("SyncFunction", "sync-one-activity-dry-run.json"),
    ("GradeStreamFunction", "grade-stream.json"),
];

/// What the commands need besides the event: the file of environment
/// variables and, offline, the locally built base image.
pub struct SamOptions<'a> {
    /// `--env-vars` file.
    pub env_vars: &'a str,
    /// `--invoke-image` (with `--skip-pull-image`); `None` pulls Lambda's
    /// official emulation image as SAM CLI does by default.
    pub image: Option<&'a str>,
}

impl SamOptions<'_> {
    /// `sam build`: cargo-lambda builds each function for x86_64 (this
    /// machine's architecture; the template deploys arm64 by default).
    pub fn build(&self) -> Vec<String> {
        words("sam build --parameter-overrides Architecture=x86_64")
    }

    /// `sam local invoke` of one function with one file of events/.
    pub fn invoke(&self, function: &str, event: &str) -> Vec<String> {
        let mut args = words(&format!(
            "sam local invoke {function} --event events/{event}"
        ));
        args.extend(self.common());
        args
    }

    /// `sam local start-api` on a loopback port.
    pub fn start_api(&self, port: u16) -> Vec<String> {
        let mut args = words(&format!(
            "sam local start-api --host 127.0.0.1 --port {port}"
        ));
        args.extend(self.common());
        args
    }

    fn common(&self) -> Vec<String> {
        let mut args = words(&format!(
            "--env-vars {} --parameter-overrides Architecture=x86_64",
            self.env_vars
        ));
        if let Some(image) = self.image {
            args.extend(words(&format!("--invoke-image {image} --skip-pull-image")));
        }
        args
    }
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

/// What one `sam local invoke` printed: the function's answer (stdout)
/// and SAM's and the function's lines (stderr).
pub struct Invocation {
    /// The answer, parsed; `Value::Null` when stdout held no JSON.
    pub answer: Value,
    /// Everything on stderr.
    pub log: String,
    /// Wall time of the whole command, container start included.
    pub took: Duration,
}

impl Invocation {
    /// The emulator's REPORT line (durations and memory), if any.
    pub fn report(&self) -> Option<&str> {
        report_lines(&self.log).next()
    }

    /// The answer, or the reason there is none, with the log's end.
    pub fn answered(&self) -> Result<&Value, String> {
        if self.answer.is_null() || self.log.contains("Invoke DONE failed") {
            let tail: Vec<&str> = self.log.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("no answer; last lines:\n{}", tail.join("\n")));
        }
        Ok(&self.answer)
    }
}

/// The emulator's REPORT lines in a log.
pub fn report_lines(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("REPORT RequestId"))
}

/// Longest one SAM command may take (a first `sam local invoke` builds
/// SAM's emulation layer on the base image: seconds, not minutes).
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// Runs one SAM command line in `repo` and collects what it printed; a
/// command still running after [`COMMAND_LIMIT`] is killed and reported.
pub async fn run(repo: &Path, args: &[String]) -> Result<Invocation, String> {
    let started = Instant::now();
    let running = Command::new(&args[0])
        .args(&args[1..])
        .current_dir(repo)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(COMMAND_LIMIT, running)
        .await
        .map_err(|_| format!("`{}` did not finish in {COMMAND_LIMIT:?}", args.join(" ")))?
        .map_err(|e| format!("{} did not start: {e}", args[0]))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!(
            "`{}` exited with {}:\n{log}",
            args.join(" "),
            out.status
        ));
    }
    // The answer is the last line of stdout: SAM prints nothing else there.
    let answer = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or(Value::Null);
    Ok(Invocation {
        answer,
        log,
        took: started.elapsed(),
    })
}

/// A running `sam local start-api`, stopped (with its containers) when
/// dropped or by [`Api::stop`].
pub struct Api {
    child: Child,
    log: std::path::PathBuf,
    /// The API's base URL.
    pub url: String,
}

impl Api {
    /// Starts the API and waits until it accepts connections.
    pub async fn start(
        repo: &Path,
        args: &[String],
        port: u16,
        log: &Path,
    ) -> Result<Self, String> {
        let file = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let child = Command::new(&args[0])
            .args(&args[1..])
            .current_dir(repo)
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("sam local start-api did not start: {e}"))?;
        let mut api = Api {
            child,
            log: log.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = api.child.try_wait() {
                return Err(format!(
                    "sam local start-api exited with {status}:\n{}",
                    api.log()
                ));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "sam local start-api did not listen in 60 s:\n{}",
                    api.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(api)
    }

    /// Everything the API printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops SAM CLI with SIGINT, as Ctrl-C would, so it removes its
    /// containers; kills it if it has not ended in 15 s.
    pub async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        self.log()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme_sam_section() -> String {
        let guide = ltisync_tests::repo_root().join("CONTRIBUTING.md");
        let readme = std::fs::read_to_string(guide).expect("CONTRIBUTING.md");
        let start = readme
            .find("## Local testing with SAM")
            .expect("CONTRIBUTING.md has a 'Local testing with SAM' section");
        let rest = &readme[start + 3..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
    }

    /// CONTRIBUTING.md shows the very commands `make sam-local` runs, offline
    /// and with the official image.
    #[test]
    fn the_readme_shows_the_commands_make_sam_local_runs() {
        let section = readme_sam_section();
        for image in [Some("ltisync-lambda-base:bookworm"), None] {
            let sam = SamOptions {
                env_vars: "env.json",
                image,
            };
            let mut lines = vec![sam.build().join(" "), sam.start_api(3000).join(" ")];
            lines.extend(EVENTS.iter().map(|(f, e)| sam.invoke(f, e).join(" ")));
            for line in lines {
                assert!(
                    section.lines().any(|l| l.trim() == line),
                    "CONTRIBUTING.md's SAM section lacks the line:\n{line}"
                );
            }
        }
    }

    /// Every file in events/ is invoked by `make sam-local`.
    #[test]
    fn every_event_file_has_its_function() {
        let dir = ltisync_tests::repo_root().join("events");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("events/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut listed: Vec<String> = EVENTS.iter().map(|(_, e)| e.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }

    #[test]
    fn report_lines_are_found() {
        let log =
            "START RequestId: 1\nREPORT RequestId: 1\tInit Duration: 0.3 ms\tDuration: 9 ms\n";
        assert_eq!(
            report_lines(log).collect::<Vec<_>>(),
            ["REPORT RequestId: 1\tInit Duration: 0.3 ms\tDuration: 9 ms"]
        );
    }
}
