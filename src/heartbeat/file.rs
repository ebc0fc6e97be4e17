//! mod_heartmonitor's flat file (`HeartbeatMaxServers 0`): one line per
//! member, `<ip> &ready=R&busy=B&lastseen=S&port=P`, `#` comments. The
//! monitor writes it whole every ~5 s and renames it into place.
//!
//! Parsing is strict: the monitor writes nothing else, so anything else is
//! reported (line number and what is wrong) rather than guessed at.

use super::{parse_ip, FormatError};

/// Larger than any monitor writes (a line is at most ~110 bytes; a
/// thousand members are ~110 KB).
pub const MAX_FILE: usize = 1 << 20;
/// The monitor's own line buffer.
const MAX_LINE: usize = 4096;

/// One member line as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub ip: String,
    pub ready: u32,
    pub busy: u32,
    /// Whole seconds between the member's last datagram and the write.
    pub lastseen: u32,
    pub port: Option<u32>,
}

/// Whether `bytes` look like the flat file (printable text, or empty).
pub fn looks_like(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\n' || (0x20..0x7f).contains(&b))
}

/// Parses the whole file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Line>, FormatError> {
    if bytes.len() > MAX_FILE {
        return Err(FormatError(format!(
            "{} bytes is too large for a heartbeat file (at most {MAX_FILE})",
            bytes.len()
        )));
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut numbers: Vec<usize> = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if raw.is_empty() || raw.starts_with(b"#") {
            continue;
        }
        let line = parse_line(raw).map_err(|why| FormatError(format!("line {n}: {why}")))?;
        if let Some(k) = lines.iter().position(|l| l.ip == line.ip) {
            return Err(FormatError(format!(
                "line {n}: {} appears twice (lines {} and {n})",
                line.ip, numbers[k]
            )));
        }
        lines.push(line);
        numbers.push(n);
    }
    // The monitor ends every line; a last one without is cut off.
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        return Err(FormatError(
            "truncated: the last line has no newline".into(),
        ));
    }
    Ok(lines)
}

fn parse_line(raw: &[u8]) -> Result<Line, String> {
    if raw.len() > MAX_LINE {
        return Err(format!("{} bytes is too long for a member line", raw.len()));
    }
    let text = std::str::from_utf8(raw)
        .ok()
        .filter(|t| t.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .ok_or("not text (control bytes or invalid UTF-8)")?;
    let (ip, query) = text
        .split_once(' ')
        .ok_or("no space between the address and the figures")?;
    let ip =
        parse_ip(ip.as_bytes()).ok_or_else(|| format!("'{}' is not an IP address", short(ip)))?;
    let (mut ready, mut busy, mut lastseen, mut port) = (None, None, None, None);
    for token in query.split('&').filter(|t| !t.is_empty()) {
        let (key, value) = token
            .split_once('=')
            .ok_or_else(|| format!("'{}' is not key=value", short(token)))?;
        let slot = match key {
            "ready" => &mut ready,
            "busy" => &mut busy,
            "lastseen" => &mut lastseen,
            "port" => &mut port,
            _ => return Err(format!("unknown field '{}'", short(key))),
        };
        if slot.is_some() {
            return Err(format!("{key} given twice"));
        }
        *slot = Some(number(key, value)?);
    }
    let need = |v: Option<u32>, key: &str| v.ok_or_else(|| format!("no {key}"));
    Ok(Line {
        ip,
        ready: need(ready, "ready")?,
        busy: need(busy, "busy")?,
        lastseen: need(lastseen, "lastseen")?,
        port,
    })
}

/// A count the monitor printed with `%u` from a C `int`: digits only, at
/// most `INT_MAX` (a larger one is a negative number wrapped around).
fn number(key: &str, value: &str) -> Result<u32, String> {
    let shown = short(value);
    if value.starts_with('-') {
        return Err(format!("{key}={shown} is negative"));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{key}={shown} is not a number"));
    }
    match value.parse::<u32>() {
        Ok(v) if v <= i32::MAX as u32 => Ok(v),
        _ => Err(format!(
            "{key}={shown} is out of range (a negative count wrapped around, or not the monitor's)"
        )),
    }
}

/// At most 32 characters of a field, for messages (the line is already
/// known to be printable ASCII).
fn short(s: &str) -> String {
    match s.get(..32) {
        Some(head) if s.len() > 32 => format!("{head}..."),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_monitor_lines() {
        let text = b"192.0.2.11 &ready=6&busy=0&lastseen=0&port=80\n# x\n\n127.0.0.1 &ready=7&busy=1&lastseen=0&port=8080\n";
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            Line {
                ip: "127.0.0.1".into(),
                ready: 7,
                busy: 1,
                lastseen: 0,
                port: Some(8080)
            }
        );
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"::1 &ready=1&busy=0&lastseen=3\n").unwrap()[0]
            .port
            .is_none());
    }

    #[test]
    fn refuses_what_the_monitor_never_writes() {
        let bad = |t: &[u8]| parse(t).unwrap_err().0;
        assert_eq!(
            bad(b"192.0.2.1 &ready=1&busy=0&lastseen=0&port=80"),
            "truncated: the last line has no newline"
        );
        assert!(bad(b"garbage\n").starts_with("line 1: no space"));
        assert!(bad(b"x.y &ready=1&busy=0&lastseen=0\n").contains("not an IP"));
        assert!(bad(b"192.0.2.1 &ready=-1&busy=0&lastseen=0\n").contains("negative"));
        assert!(bad(b"192.0.2.1 &ready=4294967295&busy=0&lastseen=0\n").contains("out of range"));
        assert!(bad(b"192.0.2.1 &ready=99999999999&busy=0&lastseen=0\n").contains("out of range"));
        assert!(bad(b"192.0.2.1 &ready=1&lastseen=0\n").contains("no busy"));
        assert!(bad(b"192.0.2.1 &ready=1&busy=0&lastseen=0&x=1\n").contains("unknown field"));
        assert!(bad(
            b"192.0.2.1 &ready=1&busy=0&lastseen=0\n192.0.2.1 &ready=1&busy=0&lastseen=0\n"
        )
        .contains("appears twice (lines 1 and 2)"));
        assert!(bad(b"192.0.2.1 &ready=1\x00&busy=0&lastseen=0\n").contains("not text"));
        assert!(bad(&vec![b'#'; MAX_FILE + 1]).contains("too large"));
    }
}
