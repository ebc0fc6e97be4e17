//! Runs the decode + evaluate workload of `benches/decode.rs` for one
//! shape, for load-independent instruction counts:
//!
//! ```text
//! cargo build --release --example decode_icount
//! valgrind --tool=callgrind --toggle-collect='*workload*evaluate*' \
//!     target/release/examples/decode_icount 16x64 [ITERATIONS]
//! ```
//!
//! The segment is built and copied outside `evaluate`, so the collected
//! instructions are those of one timed benchmark iteration (× ITERATIONS).

#[path = "../benches/support/workload.rs"]
#[allow(dead_code)]
mod workload;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "16x64".into());
    let iterations: usize = args.next().map_or(1, |n| n.parse().expect("ITERATIONS"));
    let (sl, tl) = shape
        .split_once('x')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .expect("shape: SERVERLIMITxTHREADLIMIT, e.g. 16x64");
    let bytes = workload::segment(sl, tl);
    for _ in 0..iterations {
        let (counted, in_flight, oldest) = workload::evaluate(bytes.clone(), workload::NOW);
        assert_eq!(counted, sl * tl, "every slot counted");
        std::hint::black_box((in_flight, oldest));
    }
    println!("{shape}: {} bytes, {} slots", bytes.len(), sl * tl);
}
