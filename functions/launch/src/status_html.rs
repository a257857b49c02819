//! The status page as HTML: server-rendered, no script, one stylesheet
//! whose hash the Content-Security-Policy names (so no inline style other
//! than it can run), readable at 320 px (below 40em the table's rows
//! become blocks, each cell labelled), and a real `<table>` with header
//! cells for screen readers.

use std::sync::LazyLock;

use base64::Engine;
use ltisync::status::{
    ActivityReport, GradeRow, NamesSource, NextTry, ResendResult, RowState, ViewerAudience,
};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::html::escape;

/// The page's one stylesheet. Colours meet WCAG AA contrast on white.
const STYLE: &str = "\
body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",sans-serif;color:#1b1b1b;background:#fff;margin:0}\
main{max-width:62em;margin:0 auto;padding:1em}\
h1{font-size:1.4em;margin:0 0 .2em}\
.course{margin:0 0 1em;color:#404040}\
.counts{display:flex;flex-wrap:wrap;gap:.5em;list-style:none;padding:0;margin:0 0 1em}\
.counts li{border:1px solid #767676;border-radius:4px;padding:.25em .7em}\
.n{font-weight:700}\
table{border-collapse:collapse;width:100%}\
caption{text-align:left;font-weight:600;padding:.5em 0}\
th,td{text-align:left;padding:.45em .5em;border-bottom:1px solid #c8c8c8;vertical-align:top;overflow-wrap:anywhere}\
thead th{border-bottom:2px solid #767676;overflow-wrap:normal}\
.score{white-space:nowrap}\
.id{display:block;color:#4a4a4a;font-size:.85em}\
.notSent .state{color:#a1000e}.waiting .state{color:#6b4400}.inGradebook .state{color:#0a6528}.notALearner .state{color:#404040}\
.state{font-weight:600}\
button{font:inherit;padding:.3em .9em;border:1px solid #0a3d91;background:#0b57d0;color:#fff;border-radius:4px;cursor:pointer}\
button:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}\
.notice{border-left:4px solid #0b57d0;background:#eef3fd;padding:.5em 1em;margin:0 0 1em}\
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\
@media (max-width:40em){\
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\
table,tbody,tr,th,td{display:block;width:auto}\
tr{border-bottom:2px solid #c8c8c8;padding:.4em 0}\
th,td{border:0;padding:.15em 0}\
td[data-label]::before{content:attr(data-label) \": \";font-weight:600}}";

/// The CSP source that allows [`STYLE`] and nothing else inline.
pub static STYLE_SOURCE: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLE.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
});

/// Where the form posts, relative to the page's own URL: from `…/status`
/// to `…/status/resend`, and from there to itself (an API's stage prefix
/// is kept either way).
pub fn resend_action(path: &str) -> &'static str {
    if path.trim_end_matches('/').ends_with("/resend") {
        "resend"
    } else {
        "status/resend"
    }
}

/// The whole page for a report. `ltik` goes into the form's hidden field
/// only: nowhere else on the page.
pub fn report_page(report: &ActivityReport, ltik: &str, action: &str) -> String {
    let title = report
        .activity
        .title
        .as_deref()
        .unwrap_or(&report.activity.resource_link_id);
    let course = report
        .activity
        .context_title
        .as_deref()
        .unwrap_or(&report.activity.context_id);
    let body = match report.viewer.audience {
        ViewerAudience::Instructor => instructor_view(report, ltik, action),
        ViewerAudience::Learner => learner_view(report),
    };
    page(
        &format!("Grades: {}", escape(title)),
        &format!(
            "<h1>Grades for {}</h1><p class=\"course\">{}</p>{body}",
            escape(title),
            escape(course)
        ),
    )
}

/// A page that says why nothing is shown.
pub fn refusal_page(heading: &str, message: &str) -> String {
    page(
        &escape(heading),
        &format!("<h1>{}</h1><p>{}</p>", escape(heading), escape(message)),
    )
}

fn page(title: &str, main: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{main}</main></body></html>"
    )
}

fn instructor_view(report: &ActivityReport, ltik: &str, action: &str) -> String {
    let resendable = report.grades.iter().filter(|r| r.can_resend).count();
    // One grade has its own button; more get one for all of them too.
    let send_all = match resendable {
        0 | 1 => String::new(),
        n => format!(
            "<p><button type=\"submit\" name=\"scope\" value=\"all\">Send all {n} not sent again</button></p>"
        ),
    };
    let rows: String = report.grades.iter().map(|r| row(r, true)).collect();
    let names_note = match report.names {
        NamesSource::PartOfRoster => "<p>Only part of the course roster could be read in time: the other learners are shown by their LMS user id.</p>",
        NamesSource::Unavailable => "<p>Names could not be read from the course roster just now; learners are shown by their LMS user id.</p>",
        NamesSource::Roster | NamesSource::NotRead => "",
    };
    format!(
        "{notice}{counts}{last}{names_note}\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"ltik\" value=\"{ltik}\">{send_all}\
         <table><caption>Every grade of this activity, those needing attention first</caption>\
         <thead><tr><th scope=\"col\">Learner</th><th scope=\"col\">Score</th><th scope=\"col\">State</th>\
         <th scope=\"col\"><span class=\"visually-hidden\">Action</span></th></tr></thead>\
         <tbody>{rows}</tbody></table></form>",
        notice = resent_notice(report),
        counts = counts(report),
        last = last_post(report),
        ltik = escape(ltik),
    )
}

fn learner_view(report: &ActivityReport) -> String {
    let Some(own) = report.grades.first() else {
        return "<p>No grade has been recorded for you in this activity yet.</p>".into();
    };
    format!(
        "<table><caption>Your grade</caption><thead><tr><th scope=\"col\">Learner</th>\
         <th scope=\"col\">Score</th><th scope=\"col\">State</th></tr></thead><tbody>{}</tbody></table>",
        row(own, false)
    )
}

fn counts(report: &ActivityReport) -> String {
    let c = &report.counts;
    let items = [
        (c.in_gradebook, "in the gradebook"),
        (c.waiting, "waiting"),
        (c.not_sent, "not sent"),
        (c.not_a_learner, "not a learner"),
    ];
    let list: String = items
        .iter()
        .map(|(n, words)| format!("<li><span class=\"n\">{n}</span> {words}</li>"))
        .collect();
    format!(
        "<ul class=\"counts\" aria-label=\"Grades by state, of {} in all\">{list}</ul>",
        c.total
    )
}

fn last_post(report: &ActivityReport) -> String {
    match &report.last_post_at {
        Some(at) => format!("<p>Last grade accepted by the gradebook: {}.</p>", when(at)),
        None => "<p>No grade of this activity has reached the gradebook yet.</p>".into(),
    }
}

fn resent_notice(report: &ActivityReport) -> String {
    let Some(resent) = &report.resent else {
        return String::new();
    };
    let requeued = resent
        .iter()
        .filter(|r| r.result == ResendResult::Requeued)
        .count();
    let changed = resent.len() - requeued;
    let mut text = match requeued {
        0 => "Nothing needed sending again.".to_owned(),
        1 => "1 grade was sent again; it reaches the gradebook within seconds.".to_owned(),
        n => format!("{n} grades were sent again; they reach the gradebook within seconds."),
    };
    if changed > 0 {
        text.push_str(&format!(
            " {changed} changed in the meantime and will go out with their new value."
        ));
    }
    format!("<p class=\"notice\" role=\"status\">{text}</p>")
}

fn row(r: &GradeRow, with_action: bool) -> String {
    let who = match &r.name {
        Some(name) => format!(
            "{}<span class=\"id\">{}</span>",
            escape(name),
            escape(&r.user_id)
        ),
        None => escape(&r.user_id),
    };
    let action = match (with_action, r.can_resend) {
        (false, _) => String::new(),
        (true, false) => "<td></td>".into(),
        (true, true) => format!(
            "<td><button type=\"submit\" name=\"user\" value=\"{id}\" aria-label=\"Send the grade of {label} again\">Send again</button></td>",
            id = escape(&r.user_id),
            label = escape(r.name.as_deref().unwrap_or(&r.user_id)),
        ),
    };
    format!(
        "<tr class=\"{class}\"><th scope=\"row\" data-label=\"Learner\">{who}</th>\
         <td class=\"score\" data-label=\"Score\">{score}</td><td data-label=\"State\">{state}</td>{action}</tr>",
        class = state_class(r.state),
        score = score(r),
        state = state_words(r),
    )
}

fn state_class(state: RowState) -> &'static str {
    match state {
        RowState::NotSent => "notSent",
        RowState::Waiting => "waiting",
        RowState::NotALearner => "notALearner",
        RowState::InGradebook => "inGradebook",
    }
}

fn score(r: &GradeRow) -> String {
    match (r.score_given, r.score_maximum) {
        (Some(given), Some(max)) => format!("{given} / {max}"),
        (Some(given), None) => given.to_string(),
        _ => "no score".into(),
    }
}

/// The state in words: since when, why, what next.
fn state_words(r: &GradeRow) -> String {
    let reason = escape(r.reason.as_deref().unwrap_or_default());
    let since = r.since.as_deref().map(when);
    match r.state {
        RowState::InGradebook => match since {
            Some(at) => format!("<span class=\"state\">In the gradebook</span> since {at}"),
            None => "<span class=\"state\">In the gradebook</span>".into(),
        },
        RowState::Waiting => format!(
            "<span class=\"state\">Waiting</span>: {reason}. Next try: {}.",
            next_try(r.next_try)
        ),
        RowState::NotSent => {
            let status = r.http_status.map(|s| format!("HTTP {s}"));
            let context: Vec<String> = status.into_iter().chain(since).collect();
            let context = match context.is_empty() {
                true => String::new(),
                false => format!(" ({})", context.join(", ")),
            };
            format!("<span class=\"state\">Not sent</span>: {reason}{context}")
        }
        RowState::NotALearner => {
            format!("<span class=\"state\">Not a learner</span>: {reason}")
        }
    }
}

fn next_try(next: Option<NextTry>) -> &'static str {
    match next {
        Some(NextTry::Soon) => "within minutes",
        Some(NextTry::AfterLaunch) => {
            "once someone launches this activity from the LMS, at the next daily sync"
        }
        Some(NextTry::NextDailyRun) | None => "at the next daily sync",
    }
}

/// An RFC 3339 time as "4 Dec 2026, 10:31 UTC" (as stored, when not one).
fn when(at: &str) -> String {
    let format =
        format_description!("[day padding:none] [month repr:short] [year], [hour]:[minute] UTC");
    OffsetDateTime::parse(at, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
        .unwrap_or_else(|| escape(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_posts_next_to_the_page_whatever_the_prefix() {
        assert_eq!(resend_action("/status"), "status/resend");
        assert_eq!(resend_action("/Prod/status"), "status/resend");
        assert_eq!(resend_action("/status/resend"), "resend");
        assert_eq!(resend_action("/Prod/status/resend/"), "resend");
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(when("2026-12-04T10:31:07.123Z"), "4 Dec 2026, 10:31 UTC");
        assert_eq!(when("2026-12-04T11:31:07+01:00"), "4 Dec 2026, 10:31 UTC");
        assert_eq!(when("<soon>"), "&lt;soon&gt;");
    }

    #[test]
    fn the_stylesheet_cannot_end_its_element() {
        // (That the CSP's hash admits it, the browser test shows: the
        // page's button is drawn in the stylesheet's colours.)
        assert!(!STYLE.contains("</"));
        assert!(STYLE_SOURCE.starts_with("'sha256-") && STYLE_SOURCE.ends_with("='"));
    }
}
