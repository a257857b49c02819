//! The status page in a real browser: headless Chromium (Debian's) through
//! chromedriver opens the page that the real launch binary serves behind
//! the local Runtime API, through a local stand-in for the HTTP API.
//!
//! Where no Chromium is installed these tests return at once; `make test`
//! says so before it runs them, and CI (which installs one) sets
//! `LTISYNC_REQUIRE_BROWSER` so that a missing browser fails instead.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator};
use ltisync_tests::browser::Browser;
use ltisync_tests::http_front::HttpFront;
use ltisync_tests::rigs::{Env, LaunchRig, SyncRig, Via};
use ltisync_tests::simulator::lis_role;
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};

use crate::helpers::is_synced;
use crate::status_page::{Course, LMS_WORDS};

/// The launch binary behind a local HTTP front.
struct Site {
    rig: Arc<LaunchRig>,
    front: HttpFront,
}

impl Site {
    async fn start(env: &Env) -> Self {
        let rig = Arc::new(LaunchRig::start(Via::Binary, env).await);
        let front = HttpFront::start(rig.clone()).await;
        Self { rig, front }
    }

    /// The page's URL for `ltik`, on `host` (127.0.0.1 or localhost).
    fn status_url(&self, host: &str, ltik: &str) -> String {
        format!("http://{host}:{}/status?ltik={ltik}", self.front.port())
    }

    async fn stop(self) {
        drop(self.front);
        if let Ok(rig) = Arc::try_unwrap(self.rig) {
            rig.finish().await;
        }
    }
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(element.text().await.unwrap());
    }
    out
}

#[tokio::test]
async fn instructors_learners_and_strangers_see_what_they_may() {
    let Some(browser) = Browser::start(1200).await else {
        return;
    };
    let course = Course::seeded().await;
    let site = Site::start(&course.env()).await;
    let c = &browser.client;

    c.goto(&site.status_url("127.0.0.1", &course.instructor()))
        .await
        .unwrap();
    let rows = texts(c, "tbody tr").await;
    assert_eq!(rows.len(), 6, "{rows:#?}");
    assert!(
        rows[0].contains(LMS_WORDS) || rows[1].contains(LMS_WORDS),
        "problems first: {rows:#?}"
    );
    let counts = texts(c, ".counts li").await;
    assert_eq!(
        counts,
        [
            "2 in the gradebook",
            "1 waiting",
            "2 not sent",
            "1 not a learner"
        ]
    );
    let alan = rows.iter().find(|r| r.contains("Alan Turing")).unwrap();
    assert!(
        alan.contains("73 / 100") && alan.contains("HTTP 422"),
        "{alan}"
    );
    // The stylesheet ran: the CSP's hash admitted it.
    let button = c.find(Locator::Css("tbody button")).await.unwrap();
    let colour = button.css_value("background-color").await.unwrap();
    assert!(
        colour.starts_with("rgb(11, 87, 208") || colour.starts_with("rgba(11, 87, 208"),
        "{colour}"
    );
    save_screenshot(c).await;

    c.goto(&site.status_url("127.0.0.1", &course.ltik("u1", &[&lis_role("Learner")])))
        .await
        .unwrap();
    let own = texts(c, "tbody tr").await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(
        own[0].contains("u1") && own[0].contains("In the gradebook"),
        "{own:?}"
    );
    assert!(
        c.find(Locator::Css("button")).await.is_err(),
        "no action for a learner"
    );

    let mentor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor";
    c.goto(&site.status_url("127.0.0.1", &course.ltik("m1", &[mentor])))
        .await
        .unwrap();
    let heading = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Not available to you");
    assert!(c.find(Locator::Css("table")).await.is_err());

    browser.stop().await;
    site.stop().await;
}

#[tokio::test]
async fn send_again_requeues_and_the_stream_posts_the_grade() {
    let Some(browser) = Browser::start(1200).await else {
        return;
    };
    let course = Course::seeded().await;
    let app = &course.app;
    let site = Site::start(&course.env()).await;
    let stream = SyncRig::start(Via::Binary, &app.env()).await;
    let mut mapping = EventSourceMapping::attach(
        &app.table.endpoint,
        &app.table.name,
        MappingSettings::default(),
    )
    .await;
    app.sim.clear_faults(); // the course reopened
    let c = &browser.client;
    c.goto(&site.status_url("127.0.0.1", &course.instructor()))
        .await
        .unwrap();
    c.find(Locator::Css("button[name=user][value=u3]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The form's answer replaces the page: wait for it.
    let notice = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        notice,
        "1 grade was sent again; it reaches the gradebook within seconds."
    );
    let alan = texts(c, "tbody tr").await;
    let alan = alan.iter().find(|r| r.contains("Alan Turing")).unwrap();
    assert!(alan.contains("Waiting"), "{alan}");

    mapping.drain(&stream, Duration::from_millis(500)).await;
    let received = app.received_for("u3");
    assert_eq!(
        received.last().map(|s| s.body["scoreGiven"].clone()),
        Some(73.0.into())
    );
    assert!(is_synced(&app.item(&course.ids, "u3").await));
    stream.finish().await;
    browser.stop().await;
    site.stop().await;
}

#[tokio::test]
async fn the_page_fits_320_px_and_shows_inside_another_sites_frame() {
    let Some(browser) = Browser::start(320).await else {
        return;
    };
    let course = Course::seeded().await;
    // LMS user ids can be long and unbroken (an LTI 1.1 id, a UUID).
    let long_id = "urn:lti:user-id:8f14e45fceea167a5a36dedd4bea2543f0b1c2d3e4f5a6b7";
    course.app.grade(&course.ids, long_id, 10.0).await;
    let site = Site::start(&course.env()).await;
    let c = &browser.client;
    c.goto(&site.status_url("127.0.0.1", &course.instructor()))
        .await
        .unwrap();
    // Below 40em the rows are labelled blocks: no header row to scroll.
    let thead = "return getComputedStyle(document.querySelector('thead')).position";
    assert_eq!(c.execute(thead, vec![]).await.unwrap(), "absolute");
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .unwrap();
    // (An emulated phone widens its layout viewport to fit what
    // overflows, so both must stay at 320.)
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        scroll <= 320 && inner <= 320,
        "wider than 320 px: content {scroll}, viewport {inner}"
    );

    // An LMS page on 127.0.0.1 framing the page from localhost: another site.
    let lms = HttpFront::framing(site.status_url("localhost", &course.instructor())).await;
    assert_eq!(framed_rows(c, &lms).await, Some(7));

    // A deployment that allows only its LMS: the browser refuses the frame.
    let mut env = course.env();
    env.insert(
        "STATUS_FRAME_ANCESTORS".into(),
        "https://lms.example.edu".into(),
    );
    let strict = Site::start(&env).await;
    let lms = HttpFront::framing(strict.status_url("localhost", &course.instructor())).await;
    assert_eq!(framed_rows(c, &lms).await, None);

    browser.stop().await;
    site.stop().await;
    strict.stop().await;
}

/// The rows of the table inside the LMS page's frame, once the frame has
/// loaded (`None`: the browser refused to show the page there).
async fn framed_rows(c: &Client, lms: &HttpFront) -> Option<usize> {
    c.goto(&lms.url()).await.unwrap();
    let frame = c.find(Locator::Css("iframe#tool")).await.unwrap();
    frame.enter_frame().await.unwrap();
    // A refused frame ends as the browser's own error document.
    let loaded = "return document.readyState === 'complete' && location.href !== 'about:blank'";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.execute(loaded, vec![]).await.unwrap() != serde_json::json!(true) {
        assert!(
            std::time::Instant::now() < deadline,
            "the frame never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = c.find_all(Locator::Css("tbody tr")).await.unwrap();
    c.enter_parent_frame().await.unwrap();
    (!rows.is_empty()).then_some(rows.len())
}

/// Writes the instructor's view to `target/status-page.png`, and to
/// `$LTISYNC_SCREENSHOT_DIR/status-page.png` when set (`make screenshot`
/// writes the one docs/status-page.md and the README show).
async fn save_screenshot(c: &Client) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let root = ltisync_tests::repo_root();
    std::fs::write(root.join("target/status-page.png"), &png).unwrap();
    if let Some(dir) = std::env::var_os("LTISYNC_SCREENSHOT_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("status-page.png"), &png).unwrap();
    }
}
