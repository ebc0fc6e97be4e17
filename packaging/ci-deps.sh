#!/bin/sh
# Debian packages the monitoring tests (tests/integration/monitoring.rs) need:
# the Icinga 2 daemon and its ITL, Nagios Core 4, the NRPE daemon and
# check_nrpe; and for tests/integration/exporter.rs Prometheus (and promtool),
# Debian's apache_exporter and node_exporter. Their services must not be
# started (the tests run private instances on 127.0.0.1). iproute2 (`ip
# netns`, veth, bridge) for the heartbeat cluster test's private network
# (tests/integration/cluster_live.rs). libapache2-mpm-itk for the tenant
# test (tests/integration/tenants_itk.rs); its postinst switches the system's
# own /etc/apache2 to prefork + mpm_itk, so the harness's copies of Debian's
# tree set their MPM themselves (tests/integration/support/httpd.rs). tmux
# for the live test of the full-screen `top` (tests/integration/top_live.rs).
# systemd for `systemd-analyze verify` of the packaged units (exporter.rs;
# a fresh Debian 12 container lacks it, and nothing above depends on it
# directly).
#
#   packaging/ci-deps.sh            print the names, one per line (.ci/run)
#   packaging/ci-deps.sh --install  install them with apt-get
set -eu

packages="icinga2-bin icinga2-common nagios4-core nagios-nrpe-server nagios-nrpe-plugin prometheus prometheus-apache-exporter prometheus-node-exporter iproute2 libapache2-mpm-itk tmux systemd"

if [ "${1:-}" = "--install" ]; then
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
else
  printf '%s\n' $packages
fi
