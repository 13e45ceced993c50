//! lvm2 identifiers: 32 characters from `[0-9A-Za-z!#]`, shown hyphenated
//! 6-4-4-4-4-4-6 (lvm2 `lib/id/id.c`).

/// Formats 32 raw UUID characters as lvm2 prints them (38 characters).
pub fn format_uuid(raw: &[u8; 32]) -> String {
    let mut s = String::with_capacity(38);
    for (i, &c) in raw.iter().enumerate() {
        if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
            s.push('-');
        }
        s.push(if c.is_ascii_graphic() {
            char::from(c)
        } else {
            '?'
        });
    }
    s
}

/// Strips hyphens and checks the 32 characters; `None` if invalid.
pub fn parse_uuid(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut n = 0usize;
    for c in text.bytes() {
        if c == b'-' {
            continue;
        }
        if !(c.is_ascii_alphanumeric() || c == b'!' || c == b'#') {
            return None;
        }
        *out.get_mut(n)? = c;
        n += 1;
    }
    (n == 32).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trip() {
        let raw = *b"zAEpf9Jgc35OkPrc9IZUuH03WpECw9A1";
        let s = format_uuid(&raw);
        assert_eq!(s, "zAEpf9-Jgc3-5OkP-rc9I-ZUuH-03Wp-ECw9A1");
        assert_eq!(parse_uuid(&s), Some(raw));
        assert_eq!(parse_uuid("short"), None);
        assert_eq!(parse_uuid("zAEpf9-Jgc3-5OkP-rc9I-ZUuH-03Wp-ECw9A1X"), None);
    }
}
