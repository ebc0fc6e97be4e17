#!/bin/bash
# CPU cost of `apache-scoreboard top` refreshing Debian's default event
# segment (ServerLimit 16 x ThreadLimit 64, 344,768 bytes) ten times a
# second (issue 15: under 2 % of one core).
#
# The server is contrib/bench-vs-c.sh's (SERVE=1: a real apache2, event MPM
# with Debian's limits, on 127.0.0.1). `top --interval 100ms` runs in a
# detached tmux pane of a private tmux server (-f /dev/null, 200x50), so it
# draws to a real terminal; after WARMUP seconds its utime+stime are read
# from /proc/PID/stat, again SECONDS_RUN seconds later, and the difference
# over the wall time is its share of one core. The tmux server's own CPU
# (the terminal emulator parsing what top draws) is reported beside it.
# With LOAD=N, wrk keeps N connections busy on the server meanwhile, so
# every refresh sees changed counters and slots (N=150 fills the event
# MPM's MaxRequestWorkers: 6 processes). With SLOW=N, N connections each
# send an unfinished request and a header line every 10 s (slowloris), so
# N workers stay reading (R) and the workers' table is full.
#
# Usage: contrib/bench-top.sh [BINARY]
#   BINARY   default: target/release/apache-scoreboard (built if missing)
#   env SECONDS_RUN=60 WARMUP=3 INTERVAL=100ms LOAD=0 (wrk connections) SLOW=0 PERF=0
#   PERF=1   also `perf stat -e task-clock` on top for the same seconds
#
# Needs root (the segment is root's), apache2, cc, curl, hyperfine (for
# bench-vs-c.sh), tmux, and wrk for LOAD. Stops everything it started,
# by pid, on exit.
set -euo pipefail

SECONDS_RUN=${SECONDS_RUN:-60}
WARMUP=${WARMUP:-3}
INTERVAL=${INTERVAL:-100ms}
LOAD=${LOAD:-0}
SLOW=${SLOW:-0}
PERF=${PERF:-0}

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/apache-scoreboard}
if [ ! -x "$bin" ]; then
    echo "building $bin" >&2
    (cd "$here" && cargo build --release --quiet)
fi
for tool in tmux; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 2; }
done
[ "$LOAD" != 0 ] && { command -v wrk >/dev/null || { echo "missing wrk" >&2; exit 2; }; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }

dir=$(mktemp -d /tmp/bench-top.XXXXXX)
server_pid=
tmux_pid=
top_pid=
wrk_pid=
cleanup() {
    set +e
    # top first, by pid: a top whose terminal hangs up may not end by itself.
    if [ -n "$top_pid" ] && kill -TERM "$top_pid" 2>/dev/null; then
        for _ in $(seq 20); do kill -0 "$top_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$top_pid" 2>/dev/null
    fi
    if [ -n "$wrk_pid" ]; then kill -TERM "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null; fi
    if [ -n "$tmux_pid" ]; then
        tmux -S "$dir/sock" kill-server 2>/dev/null
        kill -TERM "$tmux_pid" 2>/dev/null
        wait "$tmux_pid" 2>/dev/null
    fi
    stop_bench_server
    rm -rf "$dir"
}
# shellcheck source=contrib/bench-server.sh
. "$here/contrib/bench-server.sh"
trap cleanup EXIT INT TERM

start_bench_server "$bin" "$dir"

# A private tmux server in the foreground (its pid is ours), one pane.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    tmux -u -D -S "$dir/sock" -f /dev/null </dev/null >/dev/null 2>&1 &
tmux_pid=$!
for _ in $(seq 100); do [ -S "$dir/sock" ] && break; sleep 0.1; done
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    tmux -u -S "$dir/sock" new-session -d -x 200 -y 50 \
    "echo \$\$ > $dir/top.pid; exec $bin top --scoreboard $seg --interval $INTERVAL"
for _ in $(seq 100); do [ -s "$dir/top.pid" ] && break; sleep 0.1; done
top_pid=$(cat "$dir/top.pid")

if [ "$LOAD" != 0 ]; then
    # Stopped with SIGINT after the measurement (wrk then prints its summary).
    wrk -t1 -c"$LOAD" -d1h "$url/" >"$dir/wrk.log" 2>&1 &
    wrk_pid=$!
fi
slow=()
port=${url##*:}
for i in $(seq "$SLOW"); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /slow-%d HTTP/1.1\r\nHost: bench.test\r\n' "$i" >&"$fd"
    slow+=("$fd")
done
# A header line on each slow connection, so httpd's Timeout (60 s) never
# ends them.
trickle() { for fd in "${slow[@]}"; do printf 'X-Slow: 1\r\n' >&"$fd" || true; done; }
wait_seconds() {
    local end=$((SECONDS + $1))
    while [ "$SECONDS" -lt "$end" ]; do
        sleep $((end - SECONDS < 10 ? end - SECONDS : 10))
        trickle
    done
}
wait_seconds "$WARMUP"
kill -0 "$top_pid" 2>/dev/null || {
    echo "top exited; the pane showed:" >&2
    tmux -S "$dir/sock" capture-pane -p >&2 || true
    exit 1
}

# utime + stime (fields 14 and 15 after the parenthesised comm), in ticks.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
hz=$(getconf CLK_TCK)
perf_pid=
if [ "$PERF" = 1 ]; then
    perf stat -e task-clock,context-switches,page-faults -p "$top_pid" -o "$dir/perf.txt" \
        -- sleep "$SECONDS_RUN" &
    perf_pid=$!
fi
t0=$(date +%s.%N)
top0=$(ticks "$top_pid")
tmux0=$(ticks "$tmux_pid")
wait_seconds "$SECONDS_RUN"
top1=$(ticks "$top_pid")
tmux1=$(ticks "$tmux_pid")
t1=$(date +%s.%N)
[ -n "$perf_pid" ] && wait "$perf_pid"
rss=$(awk '/^VmRSS/ { print $2 " " $3 }' "/proc/$top_pid/status")
screen=$(tmux -S "$dir/sock" capture-pane -p | grep -v "^ *$" | head -8)
if [ -n "$wrk_pid" ]; then
    kill -INT "$wrk_pid"
    wait "$wrk_pid" || true
    wrk_pid=
fi

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "binary: $bin; top --interval $INTERVAL for ${SECONDS_RUN}s after ${WARMUP}s, 200x50 tmux pane, LOAD=$LOAD SLOW=$SLOW"
[ "$LOAD" != 0 ] && echo "wrk -t1 -c$LOAD $url/ meanwhile: $(grep -m1 'Requests/sec' "$dir/wrk.log" || cat "$dir/wrk.log")"
awk -v a="$top0" -v b="$top1" -v c="$tmux0" -v d="$tmux1" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v rss="$rss" 'BEGIN {
    wall = t1 - t0
    printf "top:  %.2f s CPU in %.2f s = %.2f %% of one core (RSS %s)\n", (b - a) / hz, wall, 100 * (b - a) / hz / wall, rss
    printf "tmux: %.2f s CPU = %.2f %% of one core (the terminal drawing it)\n", (d - c) / hz, 100 * (d - c) / hz / wall
}'
[ -s "$dir/perf.txt" ] && grep -E 'task-clock|context-switches|page-faults' "$dir/perf.txt"
echo "$screen"
