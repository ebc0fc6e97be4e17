#!/bin/bash
# Regenerates packaging/hot-symbols.txt: the functions a check, `status`
# and `dump` run, hottest first, which packaging/build.sh hands to the
# linker (rust-lld's --symbol-ordering-file) so that they sit together at
# the start of .text. A run then faults in a few 64 KB windows of code
# instead of some thirty scattered over the 3 MB of .text (BENCHMARKS.md,
# session 5: 89 -> 72 page faults and ~0.03-0.08 ms per check).
#
#   sudo bash contrib/hot-symbols.sh
#
# Builds the static binary as packaged but without an ordering, starts
# contrib/bench-vs-c.sh's server (a real event apache2 on 127.0.0.1,
# stopped by pid on exit), samples every command below under perf record
# (49 kHz, RUNS runs each; env RUNS=300) and writes the mangled names of
# the binary's own functions that were sampled, the start-up functions of
# glibc's static libc.a (never sampled often enough, found by their page
# faults) first. A name the linker no longer finds (the code changed)
# is skipped without harm: regenerate when BENCHMARKS.md's page-fault
# count of a check grows.
#
# Needs root, perf (apt-get install linux-perf), apache2, cc, curl.
set -euo pipefail

RUNS=${RUNS:-300}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/packaging/hot-symbols.txt
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
command -v perf >/dev/null || { echo "missing perf (apt-get install linux-perf)" >&2; exit 2; }

host=$(rustc -vV | sed -n 's/^host: //p')
work=$(mktemp -d /tmp/hot-symbols.XXXXXX)
server_pid=
cleanup() {
    set +e
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The packaged build's flags, less the ordering (packaging/build.sh).
(cd "$here" && RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" \
    CARGO_TARGET_DIR="$work/target" cargo build --release --locked --target "$host" --quiet)
bin=$work/apache-scoreboard
cp "$work/target/$host/release/apache-scoreboard" "$bin"
(cd "$here" && cargo build --release --quiet)

# shellcheck source=contrib/bench-server.sh
. "$here/contrib/bench-server.sh"
start_bench_server "$here/target/release/apache-scoreboard" "$work"

capacity="--max-workers 150 --threads-per-child 25"
cat >"$work/runs.sh" <<EOF
for i in \$(seq $RUNS); do
    $bin check_scoreboard_busy --scoreboard $seg $capacity
    $bin check_scoreboard_busy --scoreboard $seg
    $bin check_stuck_requests --scoreboard $seg
    $bin check_vhost_saturation --scoreboard $seg $capacity
    $bin status --scoreboard $seg $capacity
    $bin dump --scoreboard $seg
done >/dev/null
EOF
perf record -q -o "$work/perf.data" -F 49000 bash "$work/runs.sh" >/dev/null 2>&1

{
    # glibc's start-up, in the order a run calls it (static libc.a objects
    # are one section each: the whole object moves).
    printf '%s\n' _start __libc_start_main_impl __libc_early_init __libc_setup_tls \
        _dl_relocate_static_pie _dl_non_dynamic_init __tunables_init \
        __libc_init_first __vfscanf_internal __new_memcpy __libc_memmove \
        _dl_lookup_symbol_x __libc_sigaction __getrandom
    # The resolvers of the IRELATIVE relocations, which the relocator
    # calls at every start (one libc.a object each).
    resolvers=$(readelf -rW "$bin" | awk '/IRELATIV/ { a = $NF; sub(/^0+/, "", a); print a }')
    nm "$bin" | awk -v list="$resolvers" '
        BEGIN { n = split(list, r, "\n"); for (i = 1; i <= n; i++) want[r[i]] = 1 }
        { a = $1; sub(/^0+/, "", a) }
        (a in want) && $3 ~ /ifunc/ { print $3 }'
    # The sampled ones in byte order, not by samples: they end up
    # together either way (the same page faults), and a regenerated list
    # differs only by what the code gained or lost.
    perf report -q -i "$work/perf.data" --comm apache-scoreboa --dso apache-scoreboard \
        --no-demangle --no-children --sort sym --stdio 2>/dev/null |
        awk '$2 == "[.]" { print $3 }' | LC_ALL=C sort
} | awk '!seen[$0]++' >"$out"
echo "$out: $(wc -l <"$out") functions"
