#!/bin/bash
# The exporter's cost (issue 14), on a real apache2 with Debian's event
# limits (ServerLimit 16 x ThreadLimit 64, MaxRequestWorkers 150: the
# server of contrib/bench-vs-c.sh, SERVE=1) on 127.0.0.1:
#
#   1. httpd's throughput under wrk (static 3-byte file) in ROUNDS pairs of
#      DURATION-second rounds, without and with a scrape of the exporter's
#      /metrics every second (curl, as a Prometheus would scrape it),
#      interleaved A B, B A, A B ... so that the machine's drift hits both
#      alike; the exporter runs throughout (idle when not scraped);
#   2. the exporter's own CPU time per scrape of the live 16 x 64 segment
#      (utime+stime over wrk -c1 for SCRAPE_S seconds / scrapes answered);
#   3. its RSS over at least SCRAPES scrapes (wrk -c2 in 10 s batches, the
#      RSS after each batch).
#
# Usage: contrib/bench-exporter.sh [BINARY]
#   BINARY   default: target/release/apache-scoreboard (built if missing)
#   env ROUNDS=4 DURATION=10 THREADS=2 CONNECTIONS=16 SCRAPE_S=20 SCRAPES=100000
#
# Needs root (the segment is root's), apache2, cc, curl, hyperfine (for
# bench-vs-c.sh) and wrk. Listens on 127.0.0.1 only; stops everything it
# started, by pid, on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
SCRAPE_S=${SCRAPE_S:-20}
SCRAPES=${SCRAPES:-100000}

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/apache-scoreboard}
if [ ! -x "$bin" ]; then
    echo "building $bin" >&2
    (cd "$here" && cargo build --release --quiet)
fi
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }

load_start=$(cut -d" " -f1-3 /proc/loadavg)
dir=$(mktemp -d /tmp/bench-exporter.XXXXXX)
server_pid=
exporter_pid=
loop_pid=
cleanup() {
    set +e
    if [ -n "$loop_pid" ]; then kill -TERM "$loop_pid" 2>/dev/null; wait "$loop_pid" 2>/dev/null; fi
    if [ -n "$exporter_pid" ]; then kill -TERM "$exporter_pid" 2>/dev/null; wait "$exporter_pid" 2>/dev/null; fi
    stop_bench_server
    rm -rf "$dir"
}
# shellcheck source=contrib/bench-server.sh
. "$here/contrib/bench-server.sh"
trap cleanup EXIT INT TERM

start_bench_server "$bin" "$dir"

port=$(free_port)
"$bin" exporter --listen "127.0.0.1:$port" --scoreboard "$seg" >"$dir/exporter.log" 2>&1 &
exporter_pid=$!
metrics=http://127.0.0.1:$port/metrics
for _ in $(seq 100); do curl -s -m 1 -o /dev/null "$metrics" && break; sleep 0.1; done
curl -s -m 5 "$metrics" >"$dir/first.prom"
grep -E '^apache_(up|segment_slots|segment_capacity_workers) ' "$dir/first.prom"

# utime + stime (fields 14 and 15 after the parenthesised comm), in ticks.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

# 1. Throughput, interleaved.
scrape_every_second() {
    (
        trap 'exit 0' TERM
        n=0
        while :; do
            curl -s -m 5 -o /dev/null "$metrics" && n=$((n + 1))
            echo "$n" >"$dir/scrapes"
            sleep 1
        done
    ) &
    loop_pid=$!
}
round() { # MODE ROUND -> a line of $dir/wrk.tsv
    local mode=$1 r=$2 rps t0 t1 n=0
    echo 0 >"$dir/scrapes"
    t0=$(ticks "$exporter_pid")
    [ "$mode" = scraped ] && scrape_every_second
    rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$url/ok.txt" | awk '/^Requests\/sec/ { print $2 }')
    if [ -n "$loop_pid" ]; then kill -TERM "$loop_pid"; wait "$loop_pid" 2>/dev/null || true; loop_pid=; fi
    t1=$(ticks "$exporter_pid")
    n=$(cat "$dir/scrapes")
    printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$r" "$rps" "$n" "$((t1 - t0))" >>"$dir/wrk.tsv"
    printf 'round %s %-8s %10s req/s, %s scrapes, exporter %s ticks\n' "$r" "$mode" "$rps" "$n" "$((t1 - t0))"
    sleep 1
}
echo "== wrk ${DURATION}s rounds, $THREADS threads, $CONNECTIONS connections, $ROUNDS pairs"
: >"$dir/wrk.tsv"
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$url/ok.txt" >/dev/null # warm-up
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then round idle "$r"; round scraped "$r"; else round scraped "$r"; round idle "$r"; fi
done

# 2. CPU per scrape, one connection.
echo "== CPU per scrape: wrk -t1 -c1 -d${SCRAPE_S}s $metrics"
wrk -t1 -c1 -d3s "$metrics" >/dev/null # warm-up
rss_warm=$(rss "$exporter_pid")
c0=$(ticks "$exporter_pid")
wrk -t1 -c1 -d"${SCRAPE_S}s" --latency "$metrics" >"$dir/cpu.txt"
c1=$(ticks "$exporter_pid")
cpu_scrapes=$(awk '/requests in/ { print $1 }' "$dir/cpu.txt")
p50=$(awk '$1 == "50%" { print $2 }' "$dir/cpu.txt")
duration=$(curl -s -m 5 "$metrics" | awk '/^apache_segment_scrape_duration_seconds / { printf "%.3f", $2 * 1000 }')

# 3. RSS over SCRAPES scrapes.
echo "== RSS over >= $SCRAPES scrapes (wrk -t1 -c2, 10 s batches)"
total=$cpu_scrapes
: >"$dir/rss.txt"
while [ "$total" -lt $((SCRAPES + cpu_scrapes)) ]; do
    n=$(wrk -t1 -c2 -d10s "$metrics" | awk '/requests in/ { print $1 }')
    total=$((total + n))
    echo "$total $(rss "$exporter_pid")" | tee -a "$dir/rss.txt"
done
kill -0 "$exporter_pid"

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load average at the start: $load_start, at the end: $(cut -d" " -f1-3 /proc/loadavg)"
echo "binary: $bin ($("$bin" --version 2>/dev/null | head -1 || true)); segment $seg ($(stat -c %s "$seg") bytes)"
echo
echo "wrk ${DURATION}s rounds (req/s), without and with a scrape every second:"
echo
echo "| exporter | rounds (req/s) | mean ± sd | min-max | change of the mean | scrapes a round | exporter CPU a round |"
echo "|---|---|---:|---:|---:|---|---|"
awk -F'\t' -v hz="$hz" -v d="$DURATION" '
    { rps[$1] = rps[$1] (rps[$1] == "" ? "" : ", ") $3; s[$1] += $3; ss[$1] += $3 * $3; n[$1]++
      if (!($1 in lo) || $3 < lo[$1]) lo[$1] = $3; if ($3 > hi[$1]) hi[$1] = $3
      sc[$1] = sc[$1] (sc[$1] == "" ? "" : ", ") $4; cpu[$1] = cpu[$1] (cpu[$1] == "" ? "" : ", ") sprintf("%.2f s", $5 / hz) }
    END {
        base = s["idle"] / n["idle"]
        split("idle scraped", modes, " ")
        label["idle"] = "running, not scraped"; label["scraped"] = "scraped every 1 s"
        for (m = 1; m <= 2; m++) {
            k = modes[m]; mean = s[k] / n[k]; sd = n[k] > 1 ? sqrt((ss[k] - n[k] * mean * mean) / (n[k] - 1)) : 0
            ch = k == "idle" ? sprintf("(sd %.1f%%, range %.1f%% of the mean)", 100 * sd / mean, 100 * (hi[k] - lo[k]) / mean) : sprintf("%+.1f%%", 100 * (mean - base) / base)
            printf "| %s | %s | %.0f ± %.0f | %.0f-%.0f | %s | %s | %s |\n", label[k], rps[k], mean, sd, lo[k], hi[k], ch, sc[k], cpu[k]
        }
    }' "$dir/wrk.tsv"
echo
awk -v t="$((c1 - c0))" -v n="$cpu_scrapes" -v hz="$hz" -v p50="$p50" -v d="$duration" 'BEGIN {
    printf "CPU per scrape (utime+stime over %d scrapes, one connection): %.3f ms (%d ticks); latency p50 %s; apache_segment_scrape_duration_seconds %s ms\n", n, 1000 * t / hz / n, t, p50, d
}'
echo "RSS after the warm-up: $rss_warm kB; scrapes so far and RSS (kB) after each batch:"
tr '\n' ';' <"$dir/rss.txt" | sed 's/;$/\n/; s/;/; /g'
if [ -s "$dir/exporter.log" ]; then echo "exporter log:"; cat "$dir/exporter.log"; fi
