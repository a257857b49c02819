//! Reading the table page by page, never all of it at once: each page's
//! items are handed to the caller and dropped. A spinner on stderr shows
//! the items read, when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
pub use ltisync::store::RawItem as Item;
use ltisync::{ActivityKey, Store};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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

/// A progress bar over `total` activities on stderr, when it is a terminal.
pub fn activity_progress(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} activities ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Text from outside (an LMS's titles, ids) made safe for a terminal and
/// cut to `width` terminal cells (with `…` when cut): control characters
/// shown escaped, so no escape sequence or carriage return reaches the
/// terminal, and wide characters counted as the two cells they take.
pub fn fit(text: &str, width: usize) -> String {
    let safe = escape_controls(text);
    if safe.width() <= width {
        return safe;
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in safe.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// `text` padded with spaces to `width` terminal cells (after [`fit`]).
pub fn pad(text: &str, width: usize) -> String {
    let fitted = fit(text, width);
    let fill = width.saturating_sub(fitted.width());
    format!("{fitted}{}", " ".repeat(fill))
}

fn escape_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}
