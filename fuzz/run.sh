#!/bin/sh
# Bounded fuzzing of the whole decode path (fuzz_targets/decode.rs) and of
# mod_heartmonitor's storage parsers (fuzz_targets/heartbeat.rs).
#
#   fuzz/run.sh [SECONDS]      default 60; CI calls it without arguments
#
# Writes the seed corpora (fuzz/corpus/decode: the real captures, every
# layout, hostile mutations; fuzz/corpus/heartbeat: the real storage
# captures), then runs libFuzzer on 1 job: SECONDS in all, three quarters
# for decode, a quarter for heartbeat (two small parsers).
# A crash leaves its input in fuzz/artifacts/decode/ and exits non-zero;
# reproduce it with
#   cargo fuzz run decode fuzz/artifacts/decode/crash-...
# cargo-fuzz needs a nightly toolchain for -Zsanitizer; without one,
# RUSTC_BOOTSTRAP=1 lets a stable rustc accept the -Z flags.
# Long runs: see fuzz/README.md.
set -eu

seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

command -v cargo-fuzz >/dev/null 2>&1 || {
    echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2
    exit 2
}
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=+nightly
else
    toolchain=
    RUSTC_BOOTSTRAP=1
    export RUSTC_BOOTSTRAP
fi
target_dir=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$here/target}/fuzz}

corpus=$here/corpus/decode
mkdir -p "$corpus" "$here/artifacts/decode"
# The seeds are rewritten each run (cheap); what the fuzzer found is kept.
CARGO_TARGET_DIR=$target_dir/seeds cargo run -q --release \
    --manifest-path "$here/Cargo.toml" --bin seeds -- "$corpus"

# Inputs that once crashed stay in the corpus.
cp "$here"/regressions/* "$corpus"/

# -max_len: the captures are 10976 bytes; 16 KiB leaves room to grow.
# -rss_limit_mb: a 2 GiB --scoreboard is refused before decoding, but keep
# the fuzzer honest about allocations.
# No AddressSanitizer by default: the decode path is safe Rust (the only
# unsafe code copies SysV segments, which the target does not reach), and
# ASan makes it about 3 times slower. FUZZ_SANITIZER=address turns it on.
heartbeat_seconds=$((seconds / 4))
decode_seconds=$((seconds - heartbeat_seconds))
# shellcheck disable=SC2086
cargo $toolchain fuzz run --target-dir "$target_dir" --fuzz-dir "$here" \
    --sanitizer "${FUZZ_SANITIZER:-none}" decode \
    "$corpus" -- \
    -max_total_time="$decode_seconds" -max_len=16384 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1

# The heartbeat storages: the captures (a flat file of a few lines, a
# 762-byte slotmem) as seeds; 4 KiB is room for a few dozen slots.
hb_corpus=$here/corpus/heartbeat
mkdir -p "$hb_corpus" "$here/artifacts/heartbeat"
for f in "$root"/tests/fixtures/heartbeat/*/hb.dat "$root"/tests/fixtures/heartbeat/*/slotmem.bin; do
    cp "$f" "$hb_corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
done
# shellcheck disable=SC2086
cargo $toolchain fuzz run --target-dir "$target_dir" --fuzz-dir "$here" \
    --sanitizer "${FUZZ_SANITIZER:-none}" heartbeat \
    "$hb_corpus" -- \
    -max_total_time="$heartbeat_seconds" -max_len=4096 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1
