//! Runs the decode + evaluate workload of `benches/decode.rs` for one
//! shape, for load-independent instruction counts and heap profiles:
//!
//! ```text
//! cargo build --release --example decode_icount
//! B=target/release/examples/decode_icount
//! valgrind --tool=callgrind --toggle-collect='*workload*evaluate*' $B 16x64 [ITERATIONS]
//! $B --save 16x64 /tmp/16x64.bin
//! valgrind --tool=dhat $B --load /tmp/16x64.bin
//! ```
//!
//! With a shape, the segment is built and copied outside `evaluate`, so
//! the collected instructions are those of one timed benchmark iteration
//! (× ITERATIONS). `--load` reads a saved segment and evaluates that one
//! copy, so the process's heap is the segment plus what decoding and
//! evaluating allocate (DHAT's totals and peak).

#[path = "../benches/support/workload.rs"]
#[allow(dead_code)]
mod workload;

fn shape(s: &str) -> (usize, usize) {
    s.split_once('x')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .expect("shape: SERVERLIMITxTHREADLIMIT, e.g. 16x64")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--save", s, path] => {
            let (sl, tl) = shape(s);
            std::fs::write(path, workload::segment(sl, tl)).expect("write");
        }
        ["--load", path] => {
            let bytes = std::fs::read(path).expect("read");
            let len = bytes.len();
            let (counted, in_flight, _) = workload::evaluate(bytes, workload::NOW);
            println!("{path}: {len} bytes, {counted} slots, {in_flight} in flight");
        }
        [s, rest @ ..] => {
            let (sl, tl) = shape(s);
            let iterations: usize = rest.first().map_or(1, |n| n.parse().expect("ITERATIONS"));
            let bytes = workload::segment(sl, tl);
            for _ in 0..iterations {
                let (counted, in_flight, oldest) = workload::evaluate(bytes.clone(), workload::NOW);
                assert_eq!(counted, sl * tl, "every slot counted");
                std::hint::black_box((in_flight, oldest));
            }
            println!("{s}: {} bytes, {} slots", bytes.len(), sl * tl);
        }
        [] => {
            eprintln!("usage: decode_icount SHAPE [ITERATIONS] | --save SHAPE FILE | --load FILE")
        }
    }
}
