//! The course roster: who may receive a score.
//!
//! LMSs refuse scores for people who are not active learners (Canvas
//! answers 422 for test students and teachers, Moodle 400 "Incorrect score
//! received"), and some accept them into a gradebook nobody reads. So
//! before an activity's first post in a run, the sync reads the course
//! roster through LTIaaS (`GET /api/memberships?role=Learner&limit=1000`,
//! following `next`) once, and a grade for anyone who is not an active learner ends
//! `FAILED` as [`FailReason::NotALearner`] (`lastError` beginning
//! `NOT_A_LEARNER:`), without a call to the LMS.
//!
//! The check only ever prevents a post the LMS would refuse: when the
//! roster cannot be read (the LMS does not offer names and roles there,
//! memberships is refused, or answers badly) the grades are posted as
//! without the check, and the run counts the activity in
//! `rostersUnavailable`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::activity::Activity;
use crate::ltiaas::{LtiaasClient, LtiaasError, Member, PageGuard};
use crate::secrets::ServiceKey;

use crate::ltiaas::RequestGate;
use crate::outcome::FailReason;

/// Roster pages followed at most (a course of 100,000 at 100 per page).
const MAX_PAGES: usize = 1000;

/// Members asked for per roster page (`limit`, a hint the LMS may lower):
/// each page is a round trip before the activity's first post, and an LMS
/// left to its default may page a course of 300 in thirty.
pub const ROSTER_PAGE_LIMIT: u32 = 1000;

/// How long a roster read stays good for telling that someone *is* an
/// active learner, across runs and stream batches of one warm function.
pub const ROSTER_CACHE_TTL: Duration = Duration::from_secs(10 * 60);

/// Courses whose rosters are kept at most (the oldest read is dropped).
const ROSTER_CACHE_COURSES: usize = 64;

/// Rosters read recently, by course, shared by the runs of one process.
///
/// A stream batch posts a few grades per activity, seconds apart; reading
/// the whole roster for each batch would cost more requests than the
/// posts. The cache answers only "yes, an active learner": a grade whose
/// user it does not list as one triggers a fresh read, so a refusal is
/// always decided by a roster read in that very run (a learner enrolled a
/// minute ago is never refused from a stale copy).
#[derive(Debug, Default)]
pub struct RosterCache {
    courses: Mutex<HashMap<Course, CachedRoster>>,
}

/// (platform id, context id): whose roster it is.
type Course = (String, String);

/// A roster and when it was read.
#[derive(Debug)]
struct CachedRoster {
    read_at: Instant,
    roster: Arc<Roster>,
}

impl RosterCache {
    /// Whether a roster of `activity`'s course read within
    /// [`ROSTER_CACHE_TTL`] lists `user_id` as an active learner.
    pub fn lists_learner(&self, activity: &Activity, user_id: &str) -> bool {
        let courses = self.courses.lock().expect("not poisoned");
        courses
            .get(&course(activity))
            .filter(|cached| cached.read_at.elapsed() < ROSTER_CACHE_TTL)
            .is_some_and(|cached| {
                cached.roster.is_read() && cached.roster.refusal(user_id).is_none()
            })
    }

    /// Keeps a roster just read for `activity`'s course.
    pub fn remember(&self, activity: &Activity, roster: &Arc<Roster>) {
        if !roster.is_read() {
            return;
        }
        let mut courses = self.courses.lock().expect("not poisoned");
        if courses.len() >= ROSTER_CACHE_COURSES {
            let oldest = courses
                .iter()
                .min_by_key(|(_, cached)| cached.read_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                courses.remove(&oldest);
            }
        }
        let cached = CachedRoster {
            read_at: Instant::now(),
            roster: roster.clone(),
        };
        courses.insert(course(activity), cached);
    }
}

fn course(activity: &Activity) -> Course {
    (
        activity.ids.platform_id.clone(),
        activity.ids.context_id.clone(),
    )
}

/// An activity's roster for one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Roster {
    /// The check is off (`SYNC_ROSTER_CHECK=false`).
    NotChecked,
    /// The roster could not be read (why): grades are posted unchecked.
    Unavailable(String),
    /// Each member's standing, by user id.
    Read(HashMap<String, Standing>),
}

/// Where a member stands in the course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// An active learner: scores go to the LMS.
    ActiveLearner,
    /// Anyone else, and why (for `lastError`).
    NotALearner(String),
}

impl Roster {
    /// Whether the roster was read (not off, not unavailable).
    pub fn is_read(&self) -> bool {
        matches!(self, Roster::Read(_))
    }

    /// Why `user_id` may not receive a score, or `None` when the score may
    /// go to the LMS.
    pub fn refusal(&self, user_id: &str) -> Option<FailReason> {
        let Roster::Read(members) = self else {
            return None;
        };
        let why = match members.get(user_id) {
            Some(Standing::ActiveLearner) => return None,
            Some(Standing::NotALearner(why)) => why.clone(),
            None => "not on the course's learner roster (not enrolled, dropped, \
                     or a test student the LMS leaves out)"
                .to_owned(),
        };
        Some(FailReason::NotALearner(format!(
            "user '{}' is {why}; the LMS accepts scores only for active learners",
            crate::excerpt::excerpt(user_id)
        )))
    }
}

/// A member's standing from their roles and status.
pub fn standing(member: &Member) -> Standing {
    let status = member.status.as_deref().unwrap_or("Active").trim();
    if !status.eq_ignore_ascii_case("active") {
        return Standing::NotALearner(format!(
            "{} in the course",
            crate::excerpt::excerpt(&status.to_ascii_lowercase())
        ));
    }
    if member.roles.iter().any(|role| is_learner_role(role)) {
        return Standing::ActiveLearner;
    }
    let roles: Vec<&str> = member.roles.iter().map(|r| short_role(r)).collect();
    Standing::NotALearner(format!(
        "a member without the Learner role ({})",
        crate::excerpt::excerpt(&roles.join(", "))
    ))
}

/// `Learner` as LIS writes it: the context role URI
/// (`...membership#Learner`), a Learner sub-role (`...membership/Learner#...`),
/// or the short LTI 1.1 name.
fn is_learner_role(role: &str) -> bool {
    short_role(role) == "Learner" || role.contains("/membership/Learner#")
}

/// The last part of a role URI (`Instructor` for `...membership#Instructor`).
fn short_role(role: &str) -> &str {
    role.rsplit(['#', '/', ':']).next().unwrap_or(role)
}

/// Reads the roster, every page, handing each page's standings to
/// `on_page` as it arrives (so grades whose users it lists need not wait
/// for the rest). `Err` only for what must stop or delay the activity's
/// posts as any call would (see `consequence`); every other failure is
/// [`Roster::Unavailable`].
pub async fn read(
    client: &LtiaasClient,
    gate: &RequestGate,
    activity: &Activity,
    key: &ServiceKey,
    on_page: impl FnMut(&HashMap<String, Standing>),
) -> Result<Roster, LtiaasError> {
    if activity.services.names_and_roles == Some(false) {
        return Ok(Roster::Unavailable(
            "the LMS does not offer the names and roles service for this course".into(),
        ));
    }
    match read_pages(client, gate, activity, key, on_page).await {
        Ok(members) => Ok(Roster::Read(members)),
        Err(
            e @ (LtiaasError::ApiKeyRefused(_)
            | LtiaasError::Redirected { .. }
            | LtiaasError::NotSent),
        ) => Err(e),
        Err(e) => Ok(Roster::Unavailable(format!(
            "the roster could not be read: {e}"
        ))),
    }
}

async fn read_pages(
    client: &LtiaasClient,
    gate: &RequestGate,
    activity: &Activity,
    key: &ServiceKey,
    mut on_page: impl FnMut(&HashMap<String, Standing>),
) -> Result<HashMap<String, Standing>, LtiaasError> {
    let platform = activity.ids.platform_id.as_str();
    let mut members = HashMap::new();
    let learners = || client.learners(key, Some(ROSTER_PAGE_LIMIT));
    let mut page = gate.with_retries(|| gate.send(platform, learners)).await?;
    let mut pages = PageGuard::new(MAX_PAGES, "the course roster");
    loop {
        let standings: HashMap<String, Standing> = page
            .members
            .iter()
            .map(|member| (member.user_id.clone(), standing(member)))
            .collect();
        on_page(&standings);
        members.extend(standings);
        let Some(next) = page.next.take() else {
            return Ok(members);
        };
        pages.check(&next)?;
        page = gate
            .with_retries(|| gate.send(platform, || client.memberships_page(key, &next)))
            .await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(roles: &[&str], status: Option<&str>) -> Member {
        Member {
            user_id: "u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            status: status.map(str::to_owned),
            name: None,
            given_name: None,
            family_name: None,
        }
    }

    const LIS: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership";

    #[test]
    fn only_active_members_with_the_learner_role_are_learners() {
        let learner = format!("{LIS}#Learner");
        let instructor = format!("{LIS}#Instructor");
        let sub_role = format!("{LIS}/Learner#NonCreditLearner");
        assert_eq!(
            standing(&member(&[&learner], None)),
            Standing::ActiveLearner
        );
        assert_eq!(
            standing(&member(&["Learner"], Some("Active"))),
            Standing::ActiveLearner
        );
        assert_eq!(
            standing(&member(&[&sub_role], None)),
            Standing::ActiveLearner
        );
        assert_eq!(
            standing(&member(&[&instructor, "Mentor"], None)),
            Standing::NotALearner("a member without the Learner role (Instructor, Mentor)".into())
        );
        assert_eq!(
            standing(&member(&[&learner], Some("Inactive"))),
            Standing::NotALearner("inactive in the course".into())
        );
        assert_eq!(
            standing(&member(&[&learner], Some("Deleted"))),
            Standing::NotALearner("deleted in the course".into())
        );
    }

    #[test]
    fn refusals_name_the_user_and_begin_with_the_code() {
        let roster = Roster::Read(HashMap::from([
            ("ada".to_owned(), Standing::ActiveLearner),
            (
                "tim".to_owned(),
                Standing::NotALearner("inactive in the course".into()),
            ),
        ]));
        assert_eq!(roster.refusal("ada"), None);
        let tim = roster.refusal("tim").unwrap().text();
        assert!(
            tim.starts_with("NOT_A_LEARNER: user 'tim' is inactive"),
            "{tim}"
        );
        assert!(roster
            .refusal("test-student")
            .unwrap()
            .text()
            .contains("not on the course's learner roster"));
        assert_eq!(Roster::Unavailable("x".into()).refusal("anyone"), None);
        assert_eq!(Roster::NotChecked.refusal("anyone"), None);
    }

    #[test]
    fn the_cache_vouches_only_for_active_learners_of_a_read_roster() {
        let ids = crate::activity::ActivityIds::new("p", "c", "quiz").unwrap();
        let activity = Activity::bare(ids);
        let cache = RosterCache::default();
        assert!(!cache.lists_learner(&activity, "ada"), "nothing read yet");
        cache.remember(&activity, &Arc::new(Roster::Unavailable("x".into())));
        assert!(
            !cache.lists_learner(&activity, "ada"),
            "only read rosters count"
        );
        let read = Roster::Read(HashMap::from([
            ("ada".to_owned(), Standing::ActiveLearner),
            ("tim".to_owned(), Standing::NotALearner("x".into())),
        ]));
        cache.remember(&activity, &Arc::new(read));
        assert!(cache.lists_learner(&activity, "ada"));
        assert!(
            !cache.lists_learner(&activity, "tim"),
            "a refusal needs a fresh read"
        );
        assert!(!cache.lists_learner(&activity, "new-learner"));
    }
}
