//! Decode + evaluate cost per segment size: `Scoreboard::from_bytes` (size
//! header, layout detection with its plausibility sampling), mod_status's
//! rules over every slot, and one pass over the in-flight workers as the
//! stuck-request check makes it (`support/workload.rs`). Segments are
//! realistic busy servers of layout 2.4.63+ (x86_64) built by the test
//! encoder; the copy of the segment is made outside the timed part.
//!
//! Two groups time the same work: `decode+evaluate` reports throughput in
//! bytes of segment per second, `decode+evaluate/slot` in slots per second
//! (ns per slot = 1e9 / elem/s).
//!
//! `cargo bench --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[path = "support/workload.rs"]
mod workload;

use workload::{evaluate, segment, NOW, SHAPES};

fn decode(c: &mut Criterion) {
    let segments: Vec<_> = SHAPES
        .iter()
        .map(|&(sl, tl)| {
            let bytes = segment(sl, tl);
            let (counted, in_flight, _) = evaluate(bytes.clone(), NOW);
            assert_eq!(counted, sl * tl, "every slot counted");
            assert!(in_flight > 0 || sl * tl < 2);
            (format!("{sl}x{tl}"), sl * tl, bytes)
        })
        .collect();
    for (name, per) in [("decode+evaluate", false), ("decode+evaluate/slot", true)] {
        let mut group = c.benchmark_group(name);
        for (shape, slots, bytes) in &segments {
            group.throughput(if per {
                Throughput::Elements(*slots as u64)
            } else {
                Throughput::Bytes(bytes.len() as u64)
            });
            group.bench_function(shape.as_str(), |b| {
                b.iter_batched(
                    || bytes.clone(),
                    |copy| evaluate(copy, black_box(NOW)),
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
