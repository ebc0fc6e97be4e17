//! Making untrusted text safe for plugin output, and matching it
//! against globs ([`glob_match`]).
//!
//! Request lines, vhosts and client names in the scoreboard are attacker
//! controlled. A `|` would start perfdata (Nagios treats every later line as
//! perfdata), a newline would forge long-output lines, and ESC sequences or
//! bidi overrides would garble terminals and web UIs. Dangerous characters are
//! written as `\xNN`, one escape per UTF-8 byte (lowercase hex), so printable
//! UTF-8 stays readable and the result never contains `|`, `\n`, `\r`, `\t`
//! or ESC.

use std::borrow::Cow;
use std::fmt::Write;

/// Escapes raw bytes: invalid UTF-8 bytes, control characters (C0, DEL, C1),
/// `|`, bidi/line-separator characters and the backslash itself (`\x5c`, so
/// the escaping is unambiguous and reversible).
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        push_escaped(&mut out, chunk.valid(), true);
        for &byte in chunk.invalid() {
            push_hex(&mut out, byte);
        }
    }
    out
}

/// Escapes text like [`escape_bytes`] but leaves backslashes alone, so it is
/// idempotent: text that was already escaped (`\x7c`) passes unchanged.
pub fn escape_str(s: &str) -> String {
    escaped(s).into_owned()
}

/// [`escape_str`], borrowing `s` when nothing in it needs escaping (printable
/// ASCII without `|`, as most status text is).
pub fn escaped(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'|') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s, false);
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '|'
        // LRM, RLM, line/paragraph separators, bidi embeddings/overrides/isolates
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, s: &str, escape_backslash: bool) {
    for c in s.chars() {
        if needs_escape(c) || (escape_backslash && c == '\\') {
            let mut buf = [0; 4];
            for &byte in c.encode_utf8(&mut buf).as_bytes() {
                push_hex(out, byte);
            }
        } else {
            out.push(c);
        }
    }
}

fn push_hex(out: &mut String, byte: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\x{byte:02x}");
}

/// `*` matches any run of bytes, `?` one byte; iterative with backtracking
/// to the last `*`, so linear in practice and never recursive.
pub fn glob_match(pattern: &[u8], text: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || eq(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_stays() {
        let s = "GET /größe?a=1&b='x' HTTP/1.1 [::1]:443 ✓";
        assert_eq!(escape_str(s), s);
        assert_eq!(escape_bytes(s.as_bytes()), s);
    }

    #[test]
    fn dangerous_characters_are_escaped() {
        let raw = b"a|b\nc\rd\te\x1b[31mf\0g\x7fh\xc2\x85i\xffj\\k\xe2\x80\xaey";
        let want = r"a\x7cb\x0ac\x0dd\x09e\x1b[31mf\x00g\x7fh\xc2\x85i\xffj\x5ck\xe2\x80\xaey";
        assert_eq!(escape_bytes(raw), want);
        let s = String::from_utf8_lossy(raw);
        let out = escape_str(&s);
        assert!(out.contains(r"j\k"), "{out}");
        for bad in ['|', '\n', '\r', '\t', '\x1b', '\0', '\u{85}', '\u{202e}'] {
            assert!(!out.contains(bad), "{out}");
            assert!(!escape_bytes(raw).contains(bad));
        }
    }

    #[test]
    fn escape_str_is_idempotent() {
        let once = escape_bytes(b"x|y\\z\n\xff");
        assert_eq!(escape_str(&once), once);
        let s = escape_str("a|b\x1bc");
        assert_eq!(escape_str(&s), s);
    }
}
