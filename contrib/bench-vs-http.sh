#!/bin/bash
# Compares reading the scoreboard from shared memory with asking mod_status
# over HTTP, on a real Debian apache2 (event MPM) on 127.0.0.1:
#
#   1. whole-process time (hyperfine) of
#        cat SEGMENT > /dev/null                        the floor: one read
#        apache-scoreboard check_scoreboard_busy        this plugin
#        curl -s -m 5 http://127.0.0.1:PORT/server-status?auto
#      first with the server idle, then with every worker held busy by a
#      slow CGI (mod_status then has no worker to answer with);
#   2. wrk throughput of a static file, ROUNDS rounds of DURATION seconds
#      each without monitoring, with check_scoreboard_busy every 10 ms and
#      with curl of server-status every 10 ms, interleaved; once with the
#      server and wrk on CPU 0 and the monitoring on the other CPUs, once
#      with everything sharing every CPU.
#
# Usage: contrib/bench-vs-http.sh [BINARY]
#   BINARY    default: $CARGO_TARGET_DIR/release/apache-scoreboard, else
#             target/release/apache-scoreboard (built if missing)
#   env RUNS=300 ROUNDS=3 DURATION=10 CONNECTIONS=16 THREADS=2 WORKERS=32
#
# Needs root (apache2 drops to www-data; the segment is root's), apache2,
# curl, hyperfine and wrk (apt-get install curl hyperfine wrk). Listens on
# 127.0.0.1 only, runs at most a few minutes, and stops everything it
# started by pid (the server, held requests, the check loop) on exit.
set -euo pipefail

RUNS=${RUNS:-300}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-32}     # MaxRequestWorkers = ServerLimit 4 x ThreadsPerChild
HOLD=${HOLD:-90}           # seconds a slow CGI request lasts at most

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$here/target}/release/apache-scoreboard}
if [ ! -x "$bin" ]; then
    echo "building $bin" >&2
    (cd "$here" && cargo build --release --quiet)
fi
for tool in /usr/sbin/apache2 curl hyperfine wrk taskset bc; do
    command -v "$tool" >/dev/null || {
        echo "missing $tool (apt-get install apache2 curl hyperfine wrk)" >&2
        exit 2
    }
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }

load_start=$(cut -d" " -f1-3 /proc/loadavg)
root=$(mktemp -d /tmp/bench-vs-http.XXXXXX)
chmod 755 "$root"
httpd_pid=
loop_pid=
held_pids=()
# shellcheck source=contrib/bench-server.sh
. "$here/contrib/bench-server.sh"

# The slow CGIs this run started (www-data `sleep`s, by recorded pid).
stop_cgis() {
    local f p
    for f in "$root"/cgi-running/*; do
        [ -e "$f" ] || continue
        p=${f##*/}
        if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ]; then
            kill "$p" 2>/dev/null
        fi
        rm -f "$f"
    done
}

cleanup() {
    set +e
    [ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null && wait "$loop_pid" 2>/dev/null
    for p in "${held_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${held_pids[@]}"; do wait "$p" 2>/dev/null; done
    stop_cgis
    stop_apache2
    stop_cgis
    rm -rf "$root"
}
trap cleanup EXIT INT TERM

port=$(free_port)

mkdir -p "$root"/{run,logs,htdocs,cgi-bin,cgi-running}
chmod 1777 "$root/cgi-running"
echo ok > "$root/htdocs/ok.txt"
# Each CGI leaves its pid (the sleep's, after exec) so cleanup can stop it:
# CGIs outlive a stopped server.
cat > "$root/cgi-bin/sleep.cgi" <<EOF
#!/bin/sh
echo \$\$ > "$root/cgi-running/\$\$"
printf 'Content-Type: text/plain\r\n\r\n'
exec sleep $HOLD
EOF
chmod 755 "$root/cgi-bin/sleep.cgi"
printf 'text/plain\ttxt\n' > "$root/mime.types"
mods=/usr/lib/apache2/modules
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
KeepAlive On
Timeout $((HOLD + 60))
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule mime_module $mods/mod_mime.so
LoadModule status_module $mods/mod_status.so
LoadModule alias_module $mods/mod_alias.so
LoadModule cgid_module $mods/mod_cgid.so
TypesConfig "$root/mime.types"
ScriptSock "$root/run/cgid.sock"
StartServers 4
ServerLimit 4
ThreadLimit $((WORKERS / 4))
ThreadsPerChild $((WORKERS / 4))
MinSpareThreads 1
MaxSpareThreads $WORKERS
MaxRequestWorkers $WORKERS
DocumentRoot "$root/htdocs"
ScriptAlias /cgi-bin/ "$root/cgi-bin/"
<Directory />
    Require all denied
</Directory>
<Directory "$root/htdocs">
    Require all granted
</Directory>
<Directory "$root/cgi-bin">
    Options +ExecCGI
    Require all granted
</Directory>
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
EOF

start_apache2 "$root" "$port"
check=("$bin" check_scoreboard_busy --scoreboard "$seg" --max-workers "$WORKERS")
echo "apache2 pid $httpd_pid on $url, segment $seg ($(stat -c %s "$seg") bytes)"
"${check[@]}" | head -1

# hyperfine MODE RUNS_FOR_CURL: times of each command into $out/MODE.csv
bench() {
    local mode=$1 curl_runs=$2
    hyperfine -N -i --style basic --warmup 5 --runs "$RUNS" \
        --export-csv "$root/$mode-local.csv" \
        -n cat "cat $seg" \
        -n check "${check[*]}" >/dev/null
    hyperfine -N -i --style basic --warmup 1 --runs "$curl_runs" \
        --export-csv "$root/$mode-curl.csv" \
        -n curl "curl -s -m 5 $url/server-status?auto" >/dev/null
}
median() { # FILE NAME -> median in ms (hyperfine's CSV, column by name)
    awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "median") c = i; next }
        $1 == n { printf "%.3f", $c * 1000 }' "$1"
}
report() {
    local mode=$1 cat_ms check_ms curl_ms
    cat_ms=$(median "$root/$mode-local.csv" cat)
    check_ms=$(median "$root/$mode-local.csv" check)
    curl_ms=$(median "$root/$mode-curl.csv" curl)
    printf '| %-8s | %10s | %10s | %10s | %9.2f | %9.1f |\n' "$mode" "$cat_ms" "$check_ms" "$curl_ms" \
        "$(echo "$check_ms / $cat_ms" | bc -l)" "$(echo "$curl_ms / $check_ms" | bc -l)"
}

echo "== idle"
bench idle "$RUNS"
curl_idle=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/server-status?auto" || true)

echo "== every worker held by a slow CGI ($WORKERS requests)"
for i in $(seq "$WORKERS"); do
    curl -s -m $((HOLD + 30)) -o /dev/null "$url/cgi-bin/sleep.cgi?id=$i" &
    held_pids+=($!)
done
for _ in $(seq 200); do
    busy=$("${check[@]}" --metric busy | sed -n 's/.* busy=\([0-9]*\).*/\1/p' | head -1)
    [ "${busy:-0}" -ge "$WORKERS" ] && break
    sleep 0.1
done
"${check[@]}" | head -1
curl_busy=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/server-status?auto" || true)
bench busy 3
for p in "${held_pids[@]}"; do kill "$p" 2>/dev/null; done
for p in "${held_pids[@]}"; do wait "$p" 2>/dev/null || true; done
held_pids=()
stop_cgis
# Wait for the workers to come back (the CGIs see their client gone).
for _ in $(seq 300); do
    curl -s -m 1 -o /dev/null "$url/ok.txt" && break
    sleep 0.1
done
sleep 2

# wrk: ROUNDS interleaved rounds of (no monitoring, a check every 10 ms,
# curl every 10 ms), so that drift of the machine hits all three alike; the
# spread of the no-monitoring rounds is the noise. Two placements:
#   pinned: apache2 and wrk on CPU 0, the monitoring loop on CPU 1, so the
#           loop takes no CPU time from the server: any change left would be
#           interference through the segment, caches or the kernel;
#   shared: everything on every CPU (wrk and apache2 already use them all,
#           so the loop's process starts compete with the server for CPU).
echo "== wrk ${DURATION}s x $ROUNDS rounds, $THREADS threads, $CONNECTIONS connections, static file"
# every_10ms NAME COMMAND...: runs COMMAND every 10 ms in the background on
# $loop_cpus until stop_loop; counts runs in $root/NAME-count.
every_10ms() {
    local name=$1
    shift
    (
        trap 'exit 0' TERM
        n=0
        while :; do
            "$@" >/dev/null 2>&1
            n=$((n + 1))
            echo "$n" > "$root/$name-count"
            sleep 0.01
        done
    ) &
    loop_pid=$!
    taskset -pc "$loop_cpus" "$loop_pid" >/dev/null
}
stop_loop() {
    kill "$loop_pid"; wait "$loop_pid" 2>/dev/null || true; loop_pid=
}
# Every apache2 process and thread onto CPUS.
place_httpd() {
    local p
    for p in "$httpd_pid" $(ps -o pid= --ppid "$httpd_pid"); do
        taskset -apc "$1" "$p" >/dev/null 2>&1 || true
    done
}
# wrk_round PLACEMENT ROUND: one (none, check, curl) triple into $root/wrk.tsv
wrk_round() {
    local placement=$1 round=$2 mode rps runs
    for mode in none check curl; do
        rm -f "$root/$mode-count"
        case $mode in
            check) every_10ms check "${check[@]}" ;;
            curl) every_10ms curl curl -s -m 5 -o /dev/null "$url/server-status?auto" ;;
        esac
        rps=$(taskset -c "$wrk_cpus" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$url/ok.txt" \
            | awk '/^Requests\/sec/ { print $2 }')
        [ "$mode" = none ] || stop_loop
        runs=$(cat "$root/$mode-count" 2>/dev/null || echo 0)
        printf '%s\t%s\t%s\t%s\t%s\n' "$placement" "$round" "$mode" "$rps" "$runs" >> "$root/wrk.tsv"
        sleep 1
    done
}
: > "$root/wrk.tsv"
last_cpu=$(($(nproc) - 1))
if [ "$last_cpu" -ge 1 ]; then
    wrk_cpus=0 loop_cpus=1-$last_cpu
    place_httpd "$wrk_cpus"
    for r in $(seq "$ROUNDS"); do wrk_round pinned "$r"; done
fi
wrk_cpus=0-$last_cpu loop_cpus=0-$last_cpu
place_httpd "$wrk_cpus"
for r in $(seq "$ROUNDS"); do wrk_round shared "$r"; done

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load average at the start: $load_start"
echo "apache2: $(/usr/sbin/apache2 -v | sed -n 's/^Server version: //p'), event, MaxRequestWorkers $WORKERS; segment $(stat -c %s "$seg") bytes"
echo "binary: $bin ($("$bin" --version 2>/dev/null | head -1))"
echo
echo "Whole-process time, median of $RUNS runs (curl: 3 runs when busy) in ms; ratios check/cat and curl/check:"
echo
echo "| server   |   cat (ms) | check (ms) |  curl (ms) | check/cat | curl/check |"
echo "|----------|-----------:|-----------:|-----------:|----------:|-----------:|"
report idle
report busy
echo
echo "server-status over HTTP: HTTP $curl_idle when idle, '${curl_busy:-timeout}' (000 = no answer within 5 s) when every worker is busy"
echo
echo "wrk ${DURATION}s per round, $THREADS threads, $CONNECTIONS connections, 3-byte static file; requests/s per round, mean, and change of the mean against no monitoring (noise: the no-monitoring rounds' range as % of their mean):"
echo
echo "| placement | monitoring | rounds (req/s) | mean | change | runs of the monitor per round |"
echo "|---|---|---|---:|---:|---|"
awk -F'\t' '
    { key = $1 SUBSEP $3; rps[key] = rps[key] (rps[key] == "" ? "" : ", ") $4; sum[key] += $4; n[key]++
      if (!(key in lo) || $4 < lo[key]) lo[key] = $4; if ($4 > hi[key]) hi[key] = $4
      runs[key] = runs[key] (runs[key] == "" ? "" : ", ") $5; if (!($1 in seen)) { order[++np] = $1; seen[$1] = 1 } }
    END {
        split("none check curl", modes, " ")
        label["none"] = "none"; label["check"] = "check_scoreboard_busy every 10 ms"; label["curl"] = "curl server-status?auto every 10 ms"
        for (i = 1; i <= np; i++) {
            pl = order[i]; base = sum[pl SUBSEP "none"] / n[pl SUBSEP "none"]
            noise = (hi[pl SUBSEP "none"] - lo[pl SUBSEP "none"]) * 100 / base
            for (m = 1; m <= 3; m++) {
                k = pl SUBSEP modes[m]; mean = sum[k] / n[k]
                ch = modes[m] == "none" ? sprintf("noise %.1f%%", noise) : sprintf("%+.1f%%", (mean - base) * 100 / base)
                printf "| %s | %s | %s | %.0f | %s | %s |\n", pl, label[modes[m]], rps[k], mean, ch, modes[m] == "none" ? "" : runs[k]
            }
        }
    }' "$root/wrk.tsv"
