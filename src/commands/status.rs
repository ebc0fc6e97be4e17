//! `status`: mod_status's `?auto` lines for every key the segment can
//! answer, with the key names, order and number formatting of the
//! mod_status that goes with the segment's httpd version.

use std::fmt::Write;

use crate::scoreboard::{rules, HttpdVersion, Loaded, Mpm, MpmLimits, Rules, Summary};

/// `sysconf(_SC_CLK_TCK)` on Linux.
const TICKS_PER_SECOND: f32 = 100.0;
const KBYTE: f32 = 1024.0;

/// The `?auto` report.
pub fn render(loaded: &Loaded, limits: MpmLimits) -> String {
    let sb = &loaded.scoreboard;
    let v = loaded.version;
    let s = rules::summarize(sb, loaded.rules(), limits);
    let g = sb.global();
    let up = (loaded.now.saturating_sub(g.restart_time) / 1_000_000).clamp(0, i64::from(u32::MAX))
        as u32;
    let mut out = String::new();
    let mut line = |k: &str, val: &dyn std::fmt::Display| {
        let val = val.to_string();
        let _ = writeln!(out, "{k}:{}{val}", if val.is_empty() { "" } else { " " });
    };
    let since = |major, minor, patch| v >= HttpdVersion::new(major, minor, patch);
    if since(2, 4, 13) {
        line("RestartTime", &http_date(g.restart_time));
        line("ParentServerMPMGeneration", &g.running_generation);
        line("ServerUptimeSeconds", &up);
        line("ServerUptime", &uptime_words(up));
    }
    line("Total Accesses", &s.total_accesses);
    line("Total kBytes", &s.total_kbytes);
    if since(2, 4, 35) {
        line("Total Duration", &(s.total_duration / 1000));
    }
    let cpu_total = s.cpu.total();
    if since(2, 4, 13) {
        line(
            "CPUUser",
            &apr_g(f64::from(s.cpu.utime as f32 / TICKS_PER_SECOND)),
        );
        line(
            "CPUSystem",
            &apr_g(f64::from(s.cpu.stime as f32 / TICKS_PER_SECOND)),
        );
        line(
            "CPUChildrenUser",
            &apr_g(f64::from(s.cpu.cutime as f32 / TICKS_PER_SECOND)),
        );
        line(
            "CPUChildrenSystem",
            &apr_g(f64::from(s.cpu.cstime as f32 / TICKS_PER_SECOND)),
        );
    }
    if cpu_total > 0 && up > 0 {
        line(
            "CPULoad",
            &apr_g(f64::from(cpu_total as f32 / TICKS_PER_SECOND / up as f32) * 100.0),
        );
    }
    line("Uptime", &up);
    let count = s.total_accesses as f32;
    if up > 0 {
        line("ReqPerSec", &apr_g(f64::from(count / up as f32)));
        line(
            "BytesPerSec",
            &apr_g(f64::from(KBYTE * s.total_kbytes as f32 / up as f32)),
        );
    }
    if s.total_accesses > 0 {
        line(
            "BytesPerReq",
            &apr_g(f64::from(KBYTE * s.total_kbytes as f32 / count)),
        );
        if since(2, 4, 35) {
            line(
                "DurationPerReq",
                &apr_g(f64::from((s.total_duration / 1000) as f32 / count)),
            );
        }
    }
    line("BusyWorkers", &s.busy);
    if loaded.rules() == Rules::Httpd2458 {
        line("GracefulWorkers", &s.graceful);
    }
    line("IdleWorkers", &s.idle);
    if loaded.mpm_guess() == Mpm::Event && since(2, 4, 0) {
        event_block(&mut line, &s, v);
    }
    line("Scoreboard", &s.scoreboard);
    out
}

fn event_block(line: &mut dyn FnMut(&str, &dyn std::fmt::Display), s: &Summary, v: HttpdVersion) {
    if v >= HttpdVersion::new(2, 4, 35) {
        line("Processes", &s.processes);
        line("Stopping", &s.stopping);
        if v < HttpdVersion::new(2, 4, 58) {
            line("BusyWorkers", &s.async_busy);
            line("IdleWorkers", &s.async_idle);
        }
    }
    line("ConnsTotal", &s.conns_total);
    if v >= HttpdVersion::new(2, 4, 63) {
        line("ConnsAsyncWaitIO", &s.conns_async_wait_io);
    }
    line("ConnsAsyncWriting", &s.conns_async_writing);
    line("ConnsAsyncKeepAlive", &s.conns_async_keep_alive);
    line("ConnsAsyncClosing", &s.conns_async_closing);
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
