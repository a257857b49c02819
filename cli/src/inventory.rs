//! Reading the table page by page, never all of it at once: each page's
//! items are handed to the caller and dropped. A spinner on stderr shows
//! the items read, when stderr is a terminal.

use std::collections::HashMap;
use std::io::IsTerminal;

use aws_sdk_dynamodb::types::AttributeValue;
use indicatif::{ProgressBar, ProgressStyle};
use ltisync::store::schema;
use ltisync::{ActivityKey, Store};

use crate::Trouble;

/// A stored item as DynamoDB returns it.
pub type Item = HashMap<String, AttributeValue>;

/// Calls `each` for every item of one activity (a query of its partition)
/// or of the whole table (a scan).
pub async fn for_each_item(
    store: &Store,
    activity: Option<&ActivityKey>,
    mut each: impl FnMut(Item),
) -> Result<(), Trouble> {
    let progress = progress();
    let mut start = None;
    loop {
        let page = store
            .items_page(activity, start.take())
            .await
            .map_err(|e| Trouble::store(store.table(), e))?;
        progress.inc(page.items.len() as u64);
        page.items.into_iter().for_each(&mut each);
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    progress.finish_and_clear();
    Ok(())
}

fn progress() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} items read")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A string attribute, or `None`.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// A number attribute, or `None`.
pub fn number(item: &Item, name: &str) -> Option<f64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// What kind of item this is.
pub enum Kind {
    /// An activity (`ACT#<key>` / `ACTIVITY`).
    Activity(ActivityKey),
    /// A grade (`ACT#<key>` / `GRADE#…`).
    Grade(ActivityKey),
    /// A claim, the lease, or anything else.
    Other,
}

/// The kind of `item`, from its keys.
pub fn kind(item: &Item) -> Kind {
    let key = text(item, schema::PK)
        .and_then(|pk| pk.strip_prefix(schema::ACTIVITY_PREFIX))
        .and_then(|k| ActivityKey::parse(k).ok());
    match (key, text(item, schema::SK)) {
        (Some(key), Some(schema::ACTIVITY_SK)) => Kind::Activity(key),
        (Some(key), Some(sk)) if sk.starts_with(schema::GRADE_PREFIX) => Kind::Grade(key),
        _ => Kind::Other,
    }
}

/// Text cut to `width` characters (with `…` when cut).
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
