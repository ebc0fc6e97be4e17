#!/bin/bash
# Whole-process time of the checks against a minimal C reader
# (benches/c-reader/sbread.c: open, mmap, walk the slots, print one line),
# side by side on a real Debian apache2 with the event MPM's default limits
# (ServerLimit 16 x ThreadLimit 64: a 344,768-byte segment), on 127.0.0.1.
#
# By default each command runs ROUND_ROBIN times (3,000) alternately with
# the C reader (contrib/bench-round-robin.py): the machine's drift hits
# both alike, where batches of one command after another's do not (on the
# 2-vCPU VM of BENCHMARKS.md one minute's batches differ from the next by
# up to 40%). Reported per command: median, first quartile and 10%-trimmed
# mean, each as a ratio to the C reader's runs of the same alternation.
# ROUND_ROBIN=0 times hyperfine's batches instead: ROUNDS interleaved
# rounds, in each hyperfine runs every command RUNS times (after a
# warm-up); per command the median wall time of each round and the median
# of those, user+system CPU time, and the ratio to the C reader's median
# of the same round (best, median and worst round).
#
# Usage: contrib/bench-vs-c.sh [BINARY [STATIC_BINARY]]
#   BINARY         default: target/release/apache-scoreboard (built if missing)
#   STATIC_BINARY  the statically linked build (packaging/build.sh's); the
#                  checks are run with it when given, BINARY for comparison
#   env ROUND_ROBIN=3000 (0: hyperfine) RUNS=200 ROUNDS=5 SERVE=0
#       OLD=<an earlier binary, for before/after>
#   SERVE=1   only start the server, print the segment and wait (for perf,
#             strace ...); Ctrl-C stops it.
#
# Needs root (apache2 drops to www-data; the segment is root's), apache2,
# cc, curl and python3 (hyperfine for ROUND_ROBIN=0; apt-get install
# apache2 gcc curl python3 hyperfine).
# Listens on 127.0.0.1 only and stops the server it started, by pid, on exit.
set -euo pipefail

RUNS=${RUNS:-200}
ROUNDS=${ROUNDS:-5}
SERVE=${SERVE:-0}
ROUND_ROBIN=${ROUND_ROBIN:-3000}

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/apache-scoreboard}
static=${2:-}
if [ ! -x "$bin" ]; then
    echo "building $bin" >&2
    (cd "$here" && cargo build --release --quiet)
fi
tools=(/usr/sbin/apache2 cc curl python3)
[ "$ROUND_ROBIN" = 0 ] && tools+=(hyperfine)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || {
        echo "missing $tool (apt-get install apache2 gcc curl python3 hyperfine)" >&2
        exit 2
    }
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }

load_start=$(cut -d" " -f1-3 /proc/loadavg)
root=$(mktemp -d /tmp/bench-vs-c.XXXXXX)
chmod 755 "$root"
httpd_pid=
# shellcheck source=contrib/bench-server.sh
. "$here/contrib/bench-server.sh"

cleanup() {
    set +e
    stop_apache2
    rm -rf "$root"
}
trap cleanup EXIT INT TERM

cc -O2 -o "$root/sbread" "$here/benches/c-reader/sbread.c"

port=$(free_port)

mkdir -p "$root"/{run,logs,htdocs}
echo ok > "$root/htdocs/ok.txt"
mods=/usr/lib/apache2/modules
# Debian's mods-available/mpm_event.conf, ServerLimit and ThreadLimit left
# at their defaults (16 and 64).
cat > "$root/httpd.conf" <<EOF
ServerRoot "$root"
DefaultRuntimeDir "$root/run"
PidFile "$root/run/httpd.pid"
ErrorLog "$root/logs/error.log"
ServerName bench.test
Listen 127.0.0.1:$port
User www-data
Group www-data
Mutex file:$root/run default
ScoreBoardFile "$root/apache_status"
ExtendedStatus On
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule status_module $mods/mod_status.so
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
DocumentRoot "$root/htdocs"
<Directory "$root/htdocs">
    Require all granted
</Directory>
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
EOF

start_apache2 "$root" "$port"
echo "apache2 pid $httpd_pid on $url, segment $seg ($(stat -c %s "$seg") bytes)"
"$root/sbread" "$seg"
src=(--scoreboard "$seg")
"$bin" check_scoreboard_busy "${src[@]}" | head -1
if [ "$SERVE" = 1 ]; then
    echo "serving; Ctrl-C to stop"
    wait "$httpd_pid"
    exit 0
fi

# The C reader; each check as the packages run it (the static binary when
# given). check_scoreboard_busy three ways: with the whole capacity given
# (--max-workers and --threads-per-child: no configuration read, as the C
# reader reads none), with --max-workers only (ThreadsPerChild still comes
# from the running httpd's configuration) and with neither; the dynamic
# binary and OLD for a before/after.
run=${static:-$bin}
capacity="--max-workers 150 --threads-per-child 25"
names=(c-reader busy)
cmds=("$root/sbread $seg" "$run check_scoreboard_busy ${src[*]} $capacity")
if [ -n "$static" ]; then
    names+=(busy-dynamic)
    cmds+=("$bin check_scoreboard_busy ${src[*]} $capacity")
fi
if [ -n "${OLD:-}" ]; then
    names+=(busy-before)
    cmds+=("$OLD check_scoreboard_busy ${src[*]} $capacity")
fi
names+=(busy-max-workers-only)
cmds+=("$run check_scoreboard_busy ${src[*]} --max-workers 150")
if [ -n "${OLD:-}" ]; then
    names+=(busy-max-workers-only-before)
    cmds+=("$OLD check_scoreboard_busy ${src[*]} --max-workers 150")
fi
names+=(busy-capacity-from-config stuck vhost status dump)
cmds+=(
    "$run check_scoreboard_busy ${src[*]}"
    "$run check_stuck_requests ${src[*]}"
    "$run check_vhost_saturation ${src[*]} $capacity"
    "$run status ${src[*]} $capacity"
    "$run dump ${src[*]}"
)
# Where and what was measured, printed after the measurement (the load
# average at its end).
describe() {
    echo
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load average at the start: $load_start, at the end: $(cut -d" " -f1-3 /proc/loadavg)"
    echo "apache2: $(/usr/sbin/apache2 -v | sed -n 's/^Server version: //p'), event, ServerLimit 16 x ThreadLimit 64; segment $(stat -c %s "$seg") bytes"
    echo "binary: ${static:-$bin} (dynamic: $bin${OLD:+, before: $OLD})"
}
if [ "$ROUND_ROBIN" != 0 ]; then
    # Each command alternately with the C reader, ROUND_ROBIN times (the
    # machine's drift hits both alike; BENCHMARKS.md, session 6).
    pairs=()
    for i in "${!names[@]}"; do pairs+=("${names[$i]}=${cmds[$i]}"); done
    table=$(python3 "$here/contrib/bench-round-robin.py" "$ROUND_ROBIN" "${pairs[@]}")
    describe
    echo "$ROUND_ROBIN runs of each command, alternating with the C reader"
    echo "$table"
    exit 0
fi
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
for r in $(seq "$ROUNDS"); do
    hyperfine -N --style none --warmup 20 --runs "$RUNS" \
        --export-json "$root/round-$r.json" "${args[@]}" >/dev/null
done

describe
echo "$ROUNDS rounds x $RUNS runs of each command (hyperfine -N, 20 warm-up runs)"
echo
python3 - "$root" "$ROUNDS" "${names[@]}" <<'EOF'
import json, statistics, sys
root, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
per = {n: [] for n in names}
cpu = {n: [] for n in names}
for r in range(1, rounds + 1):
    for res in json.load(open(f"{root}/round-{r}.json"))["results"]:
        per[res["command"]].append(res["median"] * 1e3)
        # hyperfine's user and system are means over the runs.
        cpu[res["command"]].append((res["user"] + res["system"]) * 1e3)
base = per[names[0]]
print("| command | median wall (ms) | rounds (ms) | user+sys (ms) | / C reader: median (best-worst round) |")
print("|---|---:|---|---:|---|")
for n in names:
    ratios = sorted(a / b for a, b in zip(per[n], base))
    print(f"| {n} | {statistics.median(per[n]):.3f} | "
          + ", ".join(f"{v:.3f}" for v in per[n])
          + f" | {statistics.median(cpu[n]):.3f} | "
          + f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f}) |")
EOF
