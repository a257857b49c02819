//! Finding or creating the line item (gradebook column) an activity's
//! scores go to.
//!
//! # The rule
//! 1. The id the sync cached on the activity, else the one the LMS named at
//!    the last launch (`services.assignmentAndGrades.lineItemId`).
//! 2. Else list `GET /api/lineitems?resourceLinkId=<link>` (with
//!    `resourceId`/`tag` when the activity sets them), following `next`,
//!    and take the first item that has the activity's `resourceId` and
//!    `tag` (when set) and names the activity's link. An item that names no
//!    link at all is taken only when a `resourceId` or `tag` preference
//!    identifies it: an LMS that ignores the filter must not make a manual
//!    column (say "Attendance") the activity's.
//! 3. Else create one: label from the activity's preference, else its
//!    title; `scoreMaximum` from the preference, else the largest
//!    `scoreMaximum` among the grades being posted, else 100.
//!
//! The id found is cached on the activity. A `404` on a cached (or
//! launch-named) id forgets it and resolves once more, skipping step 1.

use crate::activity::Activity;
use crate::ltiaas::{LineItem, LtiaasClient, LtiaasError, NewLineItem, PageGuard};
use crate::secrets::ServiceKey;

use crate::ltiaas::RequestGate;

/// Pages followed at most while listing, against a misbehaving LMS. A
/// listing cut short is an error, not a create: the column may be on a
/// page not read, so the activity waits instead.
const MAX_PAGES: usize = 100;

/// Where a resolved line item id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The activity's cache.
    Cache,
    /// The last launch's `lineItemId`.
    Launch,
    /// Found by listing.
    Listed,
    /// Created by this run.
    Created,
}

impl Source {
    /// Whether a 404 on this id should trigger one fresh resolution.
    pub fn may_be_stale(self) -> bool {
        matches!(self, Source::Cache | Source::Launch)
    }
}

/// A line item id and its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The line item URL.
    pub id: String,
    /// Where it came from.
    pub source: Source,
}

/// Whether `item` is this activity's line item under the documented rule.
pub fn belongs(activity: &Activity, item: &LineItem) -> bool {
    let prefs = &activity.line_item_preferences;
    let identified = prefs.resource_id.is_some() || prefs.tag.is_some();
    let link_ok = match item.resource_link_id.as_deref() {
        Some(link) => link == activity.ids.resource_link_id,
        None => identified,
    };
    link_ok
        && prefs
            .resource_id
            .as_deref()
            .is_none_or(|r| item.resource_id.as_deref() == Some(r))
        && prefs
            .tag
            .as_deref()
            .is_none_or(|t| item.tag.as_deref() == Some(t))
}

/// The known id, if any (step 1). Where the LMS grants no line item
/// scope, the launch's id comes first: it is the LMS's own word, and
/// nothing else can be checked.
pub fn known(activity: &Activity) -> Option<Resolved> {
    let cached = activity.line_item_id.clone().map(|id| Resolved {
        id,
        source: Source::Cache,
    });
    let launched = activity.launch_line_item_id.clone().map(|id| Resolved {
        id,
        source: Source::Launch,
    });
    if activity.services.may_list_line_items() {
        cached.or(launched)
    } else {
        launched.or(cached)
    }
}

/// Steps 2 and 3. Retried as a whole, so a create whose answer was lost is
/// found by the next attempt's listing instead of being created twice.
/// `None`: nothing listed, and the LMS grants no scope to create one.
pub async fn find_or_create(
    client: &LtiaasClient,
    gate: &RequestGate,
    activity: &Activity,
    key: &ServiceKey,
    score_maximum_hint: Option<f64>,
) -> Result<Option<Resolved>, LtiaasError> {
    let platform = activity.ids.platform_id.as_str();
    gate.with_retries(|| async {
        let prefs = &activity.line_item_preferences;
        let mut page = gate
            .send(platform, || {
                client.list_line_items(
                    key,
                    &activity.ids.resource_link_id,
                    prefs.resource_id.as_deref(),
                    prefs.tag.as_deref(),
                )
            })
            .await?;
        let mut pages = PageGuard::new(MAX_PAGES, "line items for one link");
        loop {
            if let Some(item) = page.line_items.iter().find(|i| belongs(activity, i)) {
                return Ok(Some(Resolved {
                    id: item.id.clone(),
                    source: Source::Listed,
                }));
            }
            let Some(next) = page.next.take() else { break };
            pages.check(&next)?;
            page = gate
                .send(platform, || client.line_items_page(key, &next))
                .await?;
        }
        if !activity.services.may_create_line_items() {
            return Ok(None);
        }
        let new = NewLineItem {
            label: prefs
                .label
                .clone()
                .or_else(|| activity.resource_link_title.clone())
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(|| format!("Activity {}", activity.ids.resource_link_id)),
            score_maximum: prefs.score_maximum.or(score_maximum_hint).unwrap_or(100.0),
            resource_link_id: activity.ids.resource_link_id.clone(),
            resource_id: prefs.resource_id.clone(),
            tag: prefs.tag.clone(),
        };
        let created = gate
            .send(platform, || client.create_line_item(key, &new))
            .await?;
        Ok(Some(Resolved {
            id: created.id,
            source: Source::Created,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::{ActivityIds, LineItemPreferences};

    fn activity(prefs: LineItemPreferences) -> Activity {
        Activity {
            line_item_preferences: prefs,
            ..Activity::bare(ActivityIds::new("p", "c", "link").unwrap())
        }
    }

    fn item(link: Option<&str>, resource: Option<&str>, tag: Option<&str>) -> LineItem {
        LineItem {
            id: "x".into(),
            label: None,
            score_maximum: None,
            resource_link_id: link.map(Into::into),
            resource_id: resource.map(Into::into),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn without_preferences_only_items_naming_the_link_belong() {
        let a = activity(LineItemPreferences::default());
        assert!(belongs(&a, &item(Some("link"), Some("r"), Some("t"))));
        assert!(!belongs(&a, &item(None, None, None)), "a manual column");
        assert!(!belongs(&a, &item(Some("other"), None, None)));
    }

    #[test]
    fn preferences_must_all_match() {
        let a = activity(LineItemPreferences {
            resource_id: Some("quiz".into()),
            tag: Some("final".into()),
            ..Default::default()
        });
        assert!(belongs(
            &a,
            &item(Some("link"), Some("quiz"), Some("final"))
        ));
        assert!(!belongs(&a, &item(Some("link"), Some("quiz"), None)));
        assert!(!belongs(&a, &item(Some("link"), None, Some("final"))));
    }

    #[test]
    fn the_cache_wins_over_the_launch_hint() {
        let mut a = activity(LineItemPreferences::default());
        a.launch_line_item_id = Some("hint".into());
        assert_eq!(known(&a).unwrap().source, Source::Launch);
        a.line_item_id = Some("cached".into());
        assert_eq!(
            known(&a),
            Some(Resolved {
                id: "cached".into(),
                source: Source::Cache
            })
        );
    }
}
