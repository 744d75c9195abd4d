#!/usr/bin/env bash
# Builds the Debian package of heartbeat-rs: pkg/build-deb.sh [OUTDIR]  (default target/deb).
# The files are those of etc/install.sh; the package conflicts with and replaces Debian's
# `heartbeat` (same commands, same /etc/ha.d), creates the hacluster user and haclient group,
# and keeps the administrator's /etc/ha.d untouched. Needs dpkg-deb (Debian's dpkg).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/deb}
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release --bins
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

NO_BUILD=1 PACKAGE=1 sh etc/install.sh "$root" >/dev/null
install -d "$root/DEBIAN"
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: heartbeat-rs
Version: $version
Architecture: $arch
Maintainer: heartbeat-rs developers <heartbeat-rs@invalid>
Installed-Size: $installed_kb
Depends: libc6, adduser
Recommends: iproute2
Suggests: resource-agents
Conflicts: heartbeat
Replaces: heartbeat
Provides: heartbeat
Section: admin
Priority: optional
Homepage: https://example.invalid/heartbeat-rs
Description: two-node failover daemon compatible with Linux-HA Heartbeat v1
 A drop-in re-implementation of the classic Heartbeat v1 daemon: the same
 /etc/ha.d/ha.cf, authkeys and haresources, the same hb_standby, hb_takeover
 and cl_status, the same wire format (a cluster can be migrated one node at a
 time), with faster failover, in-process virtual addresses (netlink,
 gratuitous ARP, unsolicited NA) and a crash guard against duplicate VIPs.
CONTROL
cat >"$root/DEBIAN/conffiles" <<CONFFILES
/etc/init.d/heartbeat
/etc/default/heartbeat
/etc/logrotate.d/heartbeat
CONFFILES
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    getent group haclient >/dev/null || addgroup --system haclient
    getent passwd hacluster >/dev/null ||
        adduser --system --ingroup haclient --home /var/lib/heartbeat --no-create-home \
            --shell /usr/sbin/nologin hacluster
    install -d -m 0755 /var/lib/heartbeat
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || true
    fi
    if [ ! -e /etc/ha.d/ha.cf ]; then
        echo "heartbeat-rs: samples in /usr/share/doc/heartbeat-rs/examples; man ha.cf"
    fi
fi
exit 0
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -x /etc/init.d/heartbeat ]; then
    /etc/init.d/heartbeat stop >/dev/null 2>&1 || true
fi
exit 0
PRERM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
mkdir -p "$out"
deb="$out/heartbeat-rs_${version}_${arch}.deb"
# DEB_COMPRESS=gzip (the tests) trades size for speed: xz takes a minute on debug binaries.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
