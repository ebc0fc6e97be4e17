# %postun of the apache-scoreboard RPM: on the last removal ($1 = 0) the
# check symlinks made by %post go too.
if [ "$1" = 0 ]; then
    for c in check_scoreboard_busy check_stuck_requests check_vhost_saturation check_heartbeat_cluster; do
        rm -f "/usr/lib64/nagios/plugins/$c"
    done
fi
exit 0
