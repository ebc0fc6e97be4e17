//! Decode + evaluate cost per segment size: `Scoreboard::from_bytes` (size
//! header, layout detection with its plausibility sampling), mod_status's
//! rules over every slot, and one pass over the in-flight workers as the
//! stuck-request check makes it. Segments are realistic busy servers of
//! layout 2.4.63+ (x86_64) built by the test encoder; the copy of the
//! segment is made outside the timed part.
//!
//! `cargo bench --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use apache_scoreboard::scoreboard::encode::{busy_server, DEFAULT_RESTART_TIME};
use apache_scoreboard::scoreboard::{
    rules, Abi, Form, Hints, Layout, MpmLimits, Revision, Rules, Scoreboard,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// (ServerLimit, ThreadLimit): a minimal prefork, a typical event server,
/// a huge prefork and a huge threaded one.
const SHAPES: [(usize, usize); 4] = [(1, 1), (16, 64), (20_000, 1), (1_000, 64)];

/// What the checks compute: the summary and the oldest in-flight request.
fn evaluate(bytes: Vec<u8>, now: i64) -> (usize, usize, i64) {
    let sb = Scoreboard::from_bytes(bytes, Form::Auto, &Hints::default()).expect("decodes");
    let summary = rules::summarize(&sb, Rules::Httpd2458, MpmLimits::default());
    let mut in_flight = 0;
    let mut oldest = 0;
    for (_, w) in sb.workers() {
        if let Some(age) = w.request_age_us(now) {
            in_flight += 1;
            oldest = oldest.max(age);
            black_box((w.vhost, w.request, w.client));
        }
    }
    (summary.busy + summary.idle, in_flight, oldest)
}

fn decode(c: &mut Criterion) {
    let layout = Layout::new(Revision::H, Abi::Lp64).expect("layout H");
    let now = DEFAULT_RESTART_TIME + 3_700 * 1_000_000;
    let mut group = c.benchmark_group("decode+evaluate");
    for (sl, tl) in SHAPES {
        let bytes = busy_server(layout, sl, tl).posix();
        let (counted, in_flight, _) = evaluate(bytes.clone(), now);
        assert_eq!(counted, sl * tl, "every slot counted");
        assert!(in_flight > 0 || sl * tl < 2);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{sl}x{tl}"), |b| {
            b.iter_batched(
                || bytes.clone(),
                |copy| evaluate(copy, black_box(now)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
