# Sourced by the benchmark scripts that need a live server (bench-top.sh,
# bench-exporter.sh): contrib/bench-vs-c.sh's server (SERVE=1: a real
# apache2, event MPM with Debian's limits, on 127.0.0.1) started in the
# background.
#
#   start_bench_server BINARY DIR
#
# sets server_pid (stop it with SIGTERM: bench-vs-c.sh then stops its
# apache2 by pid), line (its "apache2 pid ..." line), seg (the segment's
# path) and url; the server's log is DIR/server.log.

start_bench_server() {
    SERVE=1 bash "$here/contrib/bench-vs-c.sh" "$1" >"$2/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        grep -q '^serving' "$2/server.log" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$2/server.log"; exit 1; }
        sleep 0.1
    done
    grep -q '^serving' "$2/server.log" || { cat "$2/server.log"; exit 1; }
    line=$(grep -m1 '^apache2 pid ' "$2/server.log")
    seg=$(sed -n 's/.*, segment \([^ ]*\) .*/\1/p' <<<"$line")
    url=$(sed -n 's/.* on \(http:[^,]*\),.*/\1/p' <<<"$line")
    echo "$line"
}

# The pieces the benchmark scripts share for their own apache2 (bench-vs-c.sh,
# bench-vs-http.sh) and their listeners (bench-exporter.sh). All need
# root; each process is stopped by the pid recorded here.

# A free TCP port on 127.0.0.1 (20000-45000), or exit 1.
free_port() {
    local p
    for p in $(shuf -i 20000-45000 -n 50); do
        if [ -z "$(ss -Hltn "sport = :$p")" ]; then echo "$p"; return; fi
    done
    echo "no free port" >&2
    exit 1
}

# Starts apache2 on ROOT/httpd.conf (event MPM, /server-status on PORT) in
# its own session, so its pid is ours to stop; waits until mod_status
# answers and sets httpd_pid, url and seg (the /dev/shm object it maps).
start_apache2() {
    local root=$1 port=$2
    setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C \
        /usr/sbin/apache2 -f "$root/httpd.conf" -D FOREGROUND \
        >"$root/logs/stderr.log" 2>&1 </dev/null &
    httpd_pid=$!
    url=http://127.0.0.1:$port
    for _ in $(seq 100); do
        curl -s -m 1 "$url/server-status?auto" 2>/dev/null | grep -q '^ServerMPM: event' && break
        kill -0 "$httpd_pid" 2>/dev/null || { cat "$root/logs/"*; exit 1; }
        sleep 0.1
    done
    seg=$(awk '$6 ~ /^\/dev\/shm\/ShM\./ { print $6; exit }' "/proc/$httpd_pid/maps")
    [ -n "$seg" ] || { echo "no /dev/shm/ShM.* mapped by apache2 $httpd_pid" >&2; exit 1; }
}

# Stops start_apache2's server by its pid: SIGTERM, 10 s, then SIGKILL for
# it and the children it had (and its segment, which nobody else removes).
stop_apache2() {
    [ -n "${httpd_pid:-}" ] && kill -0 "$httpd_pid" 2>/dev/null || return 0
    local children p
    children=$(ps -o pid= --ppid "$httpd_pid" 2>/dev/null)
    kill -TERM "$httpd_pid"
    for _ in $(seq 100); do kill -0 "$httpd_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$httpd_pid" 2>/dev/null; then
        kill -KILL "$httpd_pid"
        for p in $children; do kill -KILL "$p" 2>/dev/null; done
        [ -n "${seg:-}" ] && rm -f "$seg"
    fi
    wait "$httpd_pid" 2>/dev/null
    return 0
}

# Stops start_bench_server's server (bench-vs-c.sh stops its apache2, by
# pid, on SIGTERM).
stop_bench_server() {
    [ -n "${server_pid:-}" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    return 0
}
