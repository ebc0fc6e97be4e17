//! mod_status's `?auto` figures for every key the segment can answer, with
//! the key names, order and number formatting of the mod_status that goes
//! with the segment's httpd version (docs/mod_status-rules.md, "?auto"):
//! the `status` command prints them, the Prometheus series are named after
//! them.

use crate::scoreboard::{HttpdVersion, Loaded, Mpm, Rules, Summary};

/// `sysconf(_SC_CLK_TCK)` on Linux.
const TICKS_PER_SECOND: f32 = 100.0;
const KBYTE: f32 = 1024.0;

/// One `?auto` value as mod_status prints it.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Count(u64),
    Int(i64),
    /// A `double` printed with `%g` (APR's: 6 significant digits).
    Real(f64),
    Text(String),
}

impl Field {
    /// The number a reader of the `?auto` text gets: a real is what its
    /// 6 printed digits say (apache_exporter parses them).
    pub fn value(&self) -> Option<f64> {
        match self {
            Field::Count(n) => Some(*n as f64),
            Field::Int(n) => Some(*n as f64),
            Field::Real(x) => apr_g(*x).parse().ok(),
            Field::Text(_) => None,
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Count(n) => write!(f, "{n}"),
            Field::Int(n) => write!(f, "{n}"),
            Field::Real(x) => f.write_str(&apr_g(*x)),
            Field::Text(t) => f.write_str(t),
        }
    }
}

/// The `?auto` keys the segment answers, in mod_status's order, with the
/// keys and gates of the mod_status of the segment's httpd version (a key
/// may come twice: 2.4.35-2.4.57 event repeats BusyWorkers/IdleWorkers).
pub fn fields(loaded: &Loaded, s: &Summary) -> Vec<(&'static str, Field)> {
    use Field::{Count, Int, Real, Text};
    let sb = &loaded.scoreboard;
    let v = loaded.version;
    let g = sb.global();
    let up = (loaded.now.saturating_sub(g.restart_time) / 1_000_000).clamp(0, i64::from(u32::MAX))
        as u32;
    let mut out = Vec::with_capacity(32);
    let mut line = |k: &'static str, val: Field| out.push((k, val));
    let since = |major, minor, patch| v >= HttpdVersion::new(major, minor, patch);
    let secs = |ticks: u64| Real(f64::from(ticks as f32 / TICKS_PER_SECOND));
    if since(2, 4, 13) {
        line("RestartTime", Text(http_date(g.restart_time)));
        line(
            "ParentServerMPMGeneration",
            Int(g.running_generation.into()),
        );
        line("ServerUptimeSeconds", Count(u64::from(up)));
        line("ServerUptime", Text(uptime_words(up)));
    }
    line("Total Accesses", Count(s.total_accesses));
    line("Total kBytes", Count(s.total_kbytes));
    if since(2, 4, 35) {
        line("Total Duration", Int(s.total_duration / 1000));
    }
    let cpu_total = s.cpu.total();
    if since(2, 4, 13) {
        line("CPUUser", secs(s.cpu.utime));
        line("CPUSystem", secs(s.cpu.stime));
        line("CPUChildrenUser", secs(s.cpu.cutime));
        line("CPUChildrenSystem", secs(s.cpu.cstime));
    }
    if cpu_total > 0 && up > 0 {
        line(
            "CPULoad",
            Real(f64::from(cpu_total as f32 / TICKS_PER_SECOND / up as f32) * 100.0),
        );
    }
    line("Uptime", Count(u64::from(up)));
    let count = s.total_accesses as f32;
    if up > 0 {
        line("ReqPerSec", Real(f64::from(count / up as f32)));
        line(
            "BytesPerSec",
            Real(f64::from(KBYTE * s.total_kbytes as f32 / up as f32)),
        );
    }
    if s.total_accesses > 0 {
        line(
            "BytesPerReq",
            Real(f64::from(KBYTE * s.total_kbytes as f32 / count)),
        );
        if since(2, 4, 35) {
            line(
                "DurationPerReq",
                Real(f64::from((s.total_duration / 1000) as f32 / count)),
            );
        }
    }
    line("BusyWorkers", Count(s.busy as u64));
    if loaded.rules() == Rules::Httpd2458 {
        line("GracefulWorkers", Count(s.graceful as u64));
    }
    line("IdleWorkers", Count(s.idle as u64));
    if loaded.mpm_guess() == Mpm::Event && since(2, 4, 0) {
        event_block(&mut line, s, v);
    }
    line("Scoreboard", Text(s.scoreboard.clone()));
    out
}

fn event_block(line: &mut dyn FnMut(&'static str, Field), s: &Summary, v: HttpdVersion) {
    use Field::Count;
    if v >= HttpdVersion::new(2, 4, 35) {
        line("Processes", Count(s.processes as u64));
        line("Stopping", Count(s.stopping as u64));
        if v < HttpdVersion::new(2, 4, 58) {
            line("BusyWorkers", Count(s.async_busy as u64));
            line("IdleWorkers", Count(s.async_idle as u64));
        }
    }
    line("ConnsTotal", Count(s.conns_total));
    if v >= HttpdVersion::new(2, 4, 63) {
        line("ConnsAsyncWaitIO", Count(s.conns_async_wait_io));
    }
    line("ConnsAsyncWriting", Count(s.conns_async_writing));
    line("ConnsAsyncKeepAlive", Count(s.conns_async_keep_alive));
    line("ConnsAsyncClosing", Count(s.conns_async_closing));
}

/// mod_status's `show_time`: " 1 day 2 hours 5 seconds", zero parts left out.
fn uptime_words(secs: u32) -> String {
    let parts = [
        (secs / 86400, "day"),
        (secs / 3600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `%A, %d-%b-%Y %H:%M:%S %Z` in UTC (mod_status uses the server's local
/// time zone, which the segment does not record).
pub fn http_date(us: i64) -> String {
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = us.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02}-{}-{y} {:02}:{:02}:{:02} UTC",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// APR's `%g` (`apr_gcvt` with 6 digits): like C's, but no leading zero
/// before the decimal point (`.807692`).
pub fn apr_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() {
            "0".into()
        } else {
            x.to_string()
        };
    }
    let sci = format!("{:.5e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let decpt = exp.parse::<i32>().unwrap_or(0) + 1;
    let ndigit = digits.iter().rposition(|&d| d != b'0').map_or(1, |p| p + 1) as i32;
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    let digit = |i: i32| char::from(digits[i as usize]);
    if (decpt >= 0 && decpt - ndigit > 4) || decpt < -3 {
        out.push(digit(0));
        out.push('.');
        (1..ndigit).for_each(|i| out.push(digit(i)));
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let e = e.abs();
        if e / 100 > 0 {
            out.push(char::from(b'0' + (e / 100) as u8));
        }
        if e / 10 > 0 {
            out.push(char::from(b'0' + (e % 100 / 10) as u8));
        }
        out.push(char::from(b'0' + (e % 10) as u8));
    } else {
        if decpt <= 0 {
            out.push('.');
            (decpt..0).for_each(|_| out.push('0'));
        }
        for i in 1..=ndigit {
            out.push(digit(i - 1));
            if i == decpt {
                out.push('.');
            }
        }
        (ndigit..decpt).for_each(|_| out.push('0'));
        if ndigit < decpt {
            out.push('.');
        }
    }
    if out.ends_with('.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apr_g_matches_mod_status() {
        for (x, s) in [
            (2.5, "2.5"),
            (768.0, "768"),
            (307.2, "307.2"),
            (0.1, ".1"),
            (0.807692, ".807692"),
            (0.0, "0"),
            (1.0 / 3.0, ".333333"),
            (1234567.0, "1234570"),
            (0.00001234, "1.234e-5"),
            (100.0, "100"),
            (10000.0, "10000"),
        ] {
            assert_eq!(apr_g(x), s, "{x}");
        }
    }

    #[test]
    fn dates_and_uptime() {
        assert_eq!(
            http_date(1_795_221_993_000_000),
            "Saturday, 21-Nov-2026 00:46:33 UTC"
        );
        assert_eq!(uptime_words(4), "4 seconds");
        assert_eq!(uptime_words(90061), "1 day 1 hour 1 minute 1 second");
    }
}
