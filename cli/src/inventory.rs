//! Reading the table page by page, never all of it at once: each page's
//! items are handed to the caller and dropped. A spinner on stderr shows
//! the items read, when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
pub use ltisync::store::RawItem as Item;
use ltisync::{ActivityKey, Store};

use crate::Trouble;

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

/// Text cut to `width` characters (with `…` when cut).
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
