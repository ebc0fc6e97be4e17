#!/bin/bash
# Regenerates packaging/hot-symbols.txt: the functions a check, `status`
# and `dump` run, which packaging/build.sh hands to the linker (rust-lld's
# --symbol-ordering-file) so that they sit together at the start of .text.
# A run then faults in a few 64 KB windows of code instead of some thirty
# scattered over the 3 MB of .text (BENCHMARKS.md, session 5: 89 -> 72
# page faults and ~0.03-0.08 ms per check).
#
#   sudo bash contrib/hot-symbols.sh
#
# Builds the static binary as packaged but without an ordering, starts
# contrib/bench-vs-c.sh's server (a real event apache2 on 127.0.0.1,
# stopped by pid on exit) and lists, in this order:
#   1. glibc's start-up (static libc.a objects, one section each) and the
#      resolvers of the IRELATIVE relocations, which every run calls;
#   2. every function check_scoreboard_busy with the capacity given runs
#      (the commonest check), exactly, from callgrind: no function of its
#      run is left in a cold window of .text, where a sampling profile
#      misses those that run only briefly (session 7: 4-5 such faults);
#   3. every function the other commands run (callgrind again);
#   4. what perf samples of them all natively (RUNS runs each; env
#      RUNS=300): the CPU-specific variants glibc picks outside valgrind
#      (valgrind's CPU has no AVX-512).
# Each group in name order, so a regenerated list differs only by what
# the code gained or lost. A name the linker no longer finds (the code
# changed) is skipped without harm: regenerate when BENCHMARKS.md's
# page-fault count of a check grows.
#
# Needs root, perf (apt-get install linux-perf), valgrind, apache2, cc, curl.
set -euo pipefail

RUNS=${RUNS:-300}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/packaging/hot-symbols.txt
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
command -v perf >/dev/null || { echo "missing perf (apt-get install linux-perf)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "missing valgrind (apt-get install valgrind)" >&2; exit 2; }

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
busy="check_scoreboard_busy --scoreboard $seg $capacity"
others=(
    "check_scoreboard_busy --scoreboard $seg"
    "check_stuck_requests --scoreboard $seg"
    "check_vhost_saturation --scoreboard $seg $capacity"
    "status --scoreboard $seg $capacity"
    "dump --scoreboard $seg"
)
{
    echo "for i in \$(seq $RUNS); do"
    for command in "$busy" "${others[@]}"; do echo "    $bin $command"; done
    echo "done >/dev/null"
} >"$work/runs.sh"
perf record -q -o "$work/perf.data" -F 49000 bash "$work/runs.sh" >/dev/null 2>&1

# The functions one run of a command executes (mangled names).
executed() {
    # shellcheck disable=SC2086 # the command's words
    valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
        "$bin" $1 >/dev/null 2>>"$work/valgrind.log"
    callgrind_annotate --threshold=100 --inclusive=no "$work/callgrind.out" |
        sed -n 's/^ *[0-9,]* ([ 0-9.]*%)  [^:]*:\([^ ]*\) \[.*/\1/p' | LC_ALL=C sort
}

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
    executed "$busy"
    for command in "${others[@]}"; do executed "$command"; done | LC_ALL=C sort -u
    perf report -q -i "$work/perf.data" --comm apache-scoreboa --dso apache-scoreboard \
        --no-demangle --no-children --sort sym --stdio 2>/dev/null |
        awk '$2 == "[.]" { print $3 }' | LC_ALL=C sort
} | awk '$0 != "" && !seen[$0]++' >"$out"
echo "$out: $(wc -l <"$out") functions"
