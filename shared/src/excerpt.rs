//! Bounded echoes of untrusted input.
//!
//! Error messages, log records and `lastError` attributes often quote what
//! was wrong ("`'<key>' is not an activity key`"). Input is attacker-sized: a
//! 200 KB query or key must not become a 200 KB log record or grade
//! attribute. Everything that echoes input goes through [`excerpt`].

/// Characters of input any message quotes at most.
pub const MAX_ECHO_CHARS: usize = 120;

/// `text` cut to [`MAX_ECHO_CHARS`] characters, with how much was left out;
/// control characters are shown escaped so a quote cannot forge log lines.
pub fn excerpt(text: &str) -> String {
    excerpt_to(text, MAX_ECHO_CHARS)
}

/// [`excerpt`] with an explicit limit.
pub fn excerpt_to(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    let rest = chars.as_str().len();
    if rest > 0 {
        out.push_str(&format!("… ({rest} more bytes)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_with_a_count() {
        assert_eq!(excerpt("abc"), "abc");
        let long = "x".repeat(200_000);
        let cut = excerpt(&long);
        assert!(cut.len() < 200, "{cut}");
        assert!(cut.ends_with(&format!("({} more bytes)", 200_000 - MAX_ECHO_CHARS)));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(excerpt("a\r\nb\0"), "a\\r\\nb\\u{0}");
    }
}
