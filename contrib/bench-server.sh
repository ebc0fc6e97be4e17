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
