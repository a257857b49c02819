//! The status page's decisions: from an ltik to what its viewer may see of
//! the activity their launch names, and the one action ("Send again").
//!
//! The ltik is resolved through LTIaaS's ID token exactly as a launch does,
//! so the page can only ever show the activity that token names: nothing
//! the request carries besides the ltik chooses what is read. Instructors
//! see every grade, learners their own, anyone else nothing
//! ([`role::Audience`]).
//!
//! # Layout
//! - `role`: LIS roles, in their several forms, to an [`Audience`].
//! - `report`: the rows, counts and JSON shape ([`ActivityReport`]).
//! - this file: [`StatusService`], its reads (one paged, eventually
//!   consistent Query of the partition; the roster's names beside it, in a
//!   time budget) and the resend.

mod report;
mod role;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

pub use report::{
    may_cure, ActivityReport, ActivitySummary, Counts, GradeRow, NamesSource, NextTry,
    PartitionItems, ResendResult, Resent, RosterNames, RowState, Viewer, ViewerAudience,
    REPORT_VERSION,
};
pub use role::Audience;

use crate::activity::ActivityIds;
use crate::launch::{capture_from_token, check_key_fits, LaunchError};
use crate::ltiaas::{IdToken, LtiaasClient, PageGuard};
use crate::outcome::StoredReason;
use crate::secrets::Ltik;
use crate::store::report::{GradeStage, GradeState};
use crate::store::{PendingGrade, Store, WriteOutcome};
use crate::sync::roster::ROSTER_PAGE_LIMIT;

/// How long the page reads the roster's names before it shows the rest by
/// user id: the names are a courtesy, the grades are the point, and the
/// page answers within a second (with the ID token's round trip first).
pub const ROSTER_NAMES_BUDGET: Duration = Duration::from_millis(700);

/// Roster pages followed at most for names.
const ROSTER_PAGES: usize = 200;

/// Requeue writes in flight at once for a "Send all again".
const RESEND_CONCURRENCY: usize = 16;

/// What a status request comes to.
#[derive(Debug, Clone)]
pub enum StatusOutcome {
    /// The activity, as the viewer may see it.
    Report(Box<ActivityReport>),
    /// The viewer may see nothing here (403), and why.
    Forbidden(String),
    /// The launch names no activity (deep linking, no course).
    NotAnActivity(String),
}

/// Which grades a "Send again" asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendRequest {
    /// Every grade a retry may cure.
    All,
    /// This user's grade, if a retry may cure it.
    User(String),
}

/// The status page's service: LTIaaS client plus store.
#[derive(Debug, Clone)]
pub struct StatusService {
    ltiaas: LtiaasClient,
    store: Store,
}

/// Why a status request ends before its report: an answer the viewer is
/// shown (forbidden, no activity), or a failure.
enum Stop {
    Answer(StatusOutcome),
    Failed(LaunchError),
}

impl<E: Into<LaunchError>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.into())
    }
}

impl Stop {
    fn into_result(self) -> Result<StatusOutcome, LaunchError> {
        match self {
            Stop::Answer(outcome) => Ok(outcome),
            Stop::Failed(error) => Err(error),
        }
    }
}

/// Who is looking at which activity, from the ID token.
struct Visit {
    ids: ActivityIds,
    titles: (Option<String>, Option<String>),
    viewer: Viewer,
    roster_offered: bool,
}

impl StatusService {
    /// A service over the given client and store.
    pub fn new(ltiaas: LtiaasClient, store: Store) -> Self {
        Self { ltiaas, store }
    }

    /// The activity the ltik's launch names, as its viewer may see it.
    #[tracing::instrument(skip_all)]
    pub async fn report(&self, ltik: &Ltik) -> Result<StatusOutcome, LaunchError> {
        self.try_report(ltik).await.or_else(Stop::into_result)
    }

    async fn try_report(&self, ltik: &Ltik) -> Result<StatusOutcome, Stop> {
        let visit = self.visit(ltik).await?;
        let report = self.read(ltik, visit).await?;
        Ok(StatusOutcome::Report(Box::new(report.0)))
    }

    /// Requeues the grades a retry may cure (all, or one user's) with the
    /// CLI's requeue, and answers the page showing what was requeued.
    /// Instructors only.
    #[tracing::instrument(skip_all)]
    pub async fn resend(
        &self,
        ltik: &Ltik,
        request: &ResendRequest,
    ) -> Result<StatusOutcome, LaunchError> {
        self.try_resend(ltik, request)
            .await
            .or_else(Stop::into_result)
    }

    async fn try_resend(
        &self,
        ltik: &Ltik,
        request: &ResendRequest,
    ) -> Result<StatusOutcome, Stop> {
        let visit = self.visit(ltik).await?;
        if visit.viewer.audience != ViewerAudience::Instructor {
            return Ok(StatusOutcome::Forbidden(
                "only the course's instructors may send grades again".into(),
            ));
        }
        let (report, items) = self.read(ltik, visit).await?;
        let chosen = items
            .into_iter()
            .filter(|item| resendable(item, request))
            .map(|item| (report::user_id_of(&item), PendingGrade::from_item(item)));
        let resent = futures::stream::iter(chosen)
            .map(|(user_id, grade)| self.requeue(user_id, grade))
            .buffer_unordered(RESEND_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        tracing::info!(resent = resent.len(), "grades sent again");
        Ok(StatusOutcome::Report(Box::new(report.with_resent(resent))))
    }

    /// The ID token's viewer and activity, or the answer when there is
    /// nothing to show them.
    async fn visit(&self, ltik: &Ltik) -> Result<Visit, Stop> {
        let token = self.ltiaas.id_token(ltik).await?;
        visit_of(token).map_err(Stop::Answer)
    }

    /// One Query of the partition (every page), with the roster's names
    /// read beside it for an instructor; the report, and the grade items.
    async fn read(
        &self,
        ltik: &Ltik,
        visit: Visit,
    ) -> Result<(ActivityReport, Vec<crate::store::RawItem>), LaunchError> {
        let instructor = visit.viewer.audience == ViewerAudience::Instructor;
        let names = async {
            if !(instructor && visit.roster_offered) {
                return None;
            }
            Some(self.roster_names(ltik).await)
        };
        let (items, names) = tokio::join!(self.partition(&visit.ids), names);
        let items = items?;
        let grades = items.grades.clone();
        let report = ActivityReport::build(
            &visit.ids,
            visit.titles,
            items,
            visit.viewer,
            names.as_ref(),
        );
        Ok((report, grades))
    }

    async fn partition(&self, ids: &ActivityIds) -> Result<PartitionItems, LaunchError> {
        let key = ids.key();
        let mut items = PartitionItems::default();
        let mut start = None;
        loop {
            let page = self.store.items_page(Some(&key), start.take()).await?;
            items.add(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Learners' names by user id, from the roster read with the viewer's
    /// ltik (LTIaaS accepts it for memberships while the launch is alive),
    /// as many pages as [`ROSTER_NAMES_BUDGET`] allows: what was read by
    /// then is shown, the rest by user id.
    async fn roster_names(&self, ltik: &Ltik) -> RosterNames {
        let deadline = tokio::time::Instant::now() + ROSTER_NAMES_BUDGET;
        let mut names = RosterNames::default();
        let mut pages = PageGuard::new(ROSTER_PAGES, "the course roster");
        let mut next: Option<String> = None;
        loop {
            let page = async {
                match &next {
                    None => self.ltiaas.learners(ltik, Some(ROSTER_PAGE_LIMIT)).await,
                    Some(url) => self.ltiaas.memberships_page(ltik, url).await,
                }
            };
            let page = match tokio::time::timeout_at(deadline, page).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the roster's names could not be read");
                    return names;
                }
                Err(_) => {
                    tracing::warn!(
                        read = names.by_user.len(),
                        "the roster's names took longer than the page waits"
                    );
                    return names;
                }
            };
            names.add(&page.members);
            next = page.next;
            match &next {
                None => {
                    names.complete = true;
                    return names;
                }
                Some(url) if pages.check(url).is_err() => return names,
                Some(_) => {}
            }
        }
    }

    async fn requeue(&self, user_id: String, grade: PendingGrade) -> Result<Resent, LaunchError> {
        let result = match self.store.requeue_unread(&grade).await? {
            WriteOutcome::Applied => ResendResult::Requeued,
            WriteOutcome::Changed => ResendResult::Changed,
        };
        Ok(Resent { user_id, result })
    }
}

/// The viewer and activity of an ID token, or why there is nothing to show.
fn visit_of(token: IdToken) -> Result<Visit, StatusOutcome> {
    let Some(user) = token.user.clone() else {
        return Err(StatusOutcome::Forbidden(
            "the launch does not say who you are".into(),
        ));
    };
    let Some(audience) = Option::<ViewerAudience>::from(Audience::of(&user.roles)) else {
        return Err(StatusOutcome::Forbidden(
            "this page is for the course's instructors, and for learners to see their own grade; \
             your role in this course is neither"
                .into(),
        ));
    };
    let roster_offered = token
        .services
        .as_ref()
        .and_then(|s| s.names_and_roles.as_ref())
        .is_none_or(|n| n.available);
    let capture = capture_from_token(token).map_err(StatusOutcome::NotAnActivity)?;
    if let Err(e) = check_key_fits(&capture.ids) {
        return Err(StatusOutcome::NotAnActivity(e.to_string()));
    }
    Ok(Visit {
        ids: capture.ids,
        titles: (capture.context_title, capture.resource_link_title),
        viewer: Viewer {
            user_id: user.id,
            audience,
        },
        roster_offered,
    })
}

/// Failed, for a reason a retry may cure, and asked for.
fn resendable(item: &crate::store::RawItem, request: &ResendRequest) -> bool {
    let state = GradeState::read(item);
    let curable = match state.stage {
        GradeStage::Failed(StoredReason::Failed(code)) => may_cure(Some(code)),
        GradeStage::Failed(_) | GradeStage::NeverQueued | GradeStage::Unknown => true,
        _ => false,
    };
    curable
        && match request {
            ResendRequest::All => true,
            ResendRequest::User(user) => report::user_id_of(item) == *user,
        }
}
