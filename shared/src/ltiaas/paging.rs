//! Following an LMS's `next` links without trusting them to end.
//!
//! LTIaaS relays the LMS's `Link` header as `next`, and ltisync passes it
//! back verbatim. An LMS (or a proxy) can hand out a link that leads back
//! to a page already read, or pages without end; each costs a request, so
//! a listing is cut off instead of followed.

use std::collections::HashSet;

use super::LtiaasError;

/// Watches the `next` links of one listing: the first repeat, or more than
/// `limit` pages, ends it with [`LtiaasError::Paging`], which is not
/// retried (listing again would meet the same links).
#[derive(Debug)]
pub struct PageGuard {
    seen: HashSet<String>,
    limit: usize,
    /// Names the listing in the error, e.g. "the course roster".
    listing: &'static str,
}

impl PageGuard {
    /// A guard for one listing of `listing` (named in the error) that reads
    /// at most `limit` pages, the first one included.
    pub fn new(limit: usize, listing: &'static str) -> Self {
        Self {
            seen: HashSet::new(),
            limit,
            listing,
        }
    }

    /// Whether the page `next` links to may be read.
    pub fn check(&mut self, next: &str) -> Result<(), LtiaasError> {
        if !self.seen.insert(next.to_owned()) {
            return Err(self.stop(format!(
                "the next link '{}' repeats a page already read",
                crate::excerpt::excerpt(next)
            )));
        }
        // The first page came without a link, so `limit` links lead to
        // page `limit + 1`.
        if self.seen.len() >= self.limit {
            return Err(self.stop(format!("there are more than {} pages", self.limit)));
        }
        Ok(())
    }

    fn stop(&self, reason: String) -> LtiaasError {
        LtiaasError::Paging {
            listing: self.listing.to_owned(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_next_link_stops_the_listing() {
        let mut guard = PageGuard::new(10, "things");
        assert!(guard.check("https://lms/p2").is_ok());
        assert!(guard.check("https://lms/p3").is_ok());
        let err = guard.check("https://lms/p2").unwrap_err();
        assert!(
            err.to_string().contains("'https://lms/p2' repeats"),
            "{err}"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn the_limit_counts_the_first_page_and_the_error_names_the_listing() {
        let mut guard = PageGuard::new(3, "the course roster");
        assert!(guard.check("https://lms/p2").is_ok());
        assert!(guard.check("https://lms/p3").is_ok());
        let err = guard.check("https://lms/p4").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the LMS's pages of the course roster cannot be followed: there are more than 3 pages"
        );
        assert!(!err.is_retryable());
    }
}
