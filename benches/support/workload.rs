//! The decode + evaluate workload shared by `benches/decode.rs` (timing)
//! and `examples/decode_icount.rs` (instruction counts under callgrind).

use std::hint::black_box;

use apache_scoreboard::scoreboard::encode::{busy_server, DEFAULT_RESTART_TIME};
use apache_scoreboard::scoreboard::{
    rules, Abi, Form, Hints, Layout, MpmLimits, Revision, Rules, Scoreboard,
};

/// (ServerLimit, ThreadLimit): a minimal prefork, a typical event server,
/// a huge prefork and a huge threaded one.
pub const SHAPES: [(usize, usize); 4] = [(1, 1), (16, 64), (20_000, 1), (1_000, 64)];

/// "now" for the ages: an hour after the segment's restart.
pub const NOW: i64 = DEFAULT_RESTART_TIME + 3_700 * 1_000_000;

/// A realistic busy segment of layout 2.4.63+ (x86_64), POSIX form.
pub fn segment(server_limit: usize, thread_limit: usize) -> Vec<u8> {
    let layout = Layout::new(Revision::H, Abi::Lp64).expect("layout H");
    busy_server(layout, server_limit, thread_limit).posix()
}

/// What the checks compute: the summary and the oldest in-flight request.
/// Returns (slots counted busy or idle, requests in flight, oldest age).
#[inline(never)]
pub fn evaluate(bytes: Vec<u8>, now: i64) -> (usize, usize, i64) {
    let sb = Scoreboard::from_bytes(bytes, Form::Auto, &Hints::default()).expect("decodes");
    let summary = rules::summarize(&sb, Rules::Httpd2458, MpmLimits::default());
    let mut in_flight = 0;
    let mut oldest = 0;
    for (_, w) in sb.workers() {
        if let Some(age) = w.request_age_us(now) {
            in_flight += 1;
            oldest = oldest.max(age);
            black_box((w.vhost(), w.request(), w.client()));
        }
    }
    (summary.busy + summary.idle, in_flight, oldest)
}
