# %post of the apache-scoreboard RPM ($1: 1 install, 2 upgrade); see
# packaging/debian/postinst for the reasons. cargo-generate-rpm packages no
# symlinks, so the check names are made here; the capability is set here
# rather than with %caps so that the admin's opt-out
# (/etc/apache-scoreboard/no-capability) is honoured.
PLUGINS=/usr/lib64/nagios/plugins
for c in check_scoreboard_busy check_stuck_requests check_vhost_saturation check_heartbeat_cluster; do
    ln -sfn apache-scoreboard "$PLUGINS/$c"
done
if [ -e /etc/apache-scoreboard/no-capability ]; then
    setcap -r "$PLUGINS/apache-scoreboard" >/dev/null 2>&1 || :
elif ! setcap cap_dac_read_search,cap_ipc_owner=ep "$PLUGINS/apache-scoreboard"; then
    echo "apache-scoreboard: setcap failed: no capability set; run the checks as root or via sudo" >&2
fi
exit 0
