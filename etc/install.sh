#!/bin/sh
# Installs heartbeat-rs: binaries, resource scripts, sample configuration, init script and
# systemd unit. Usage: etc/install.sh [DESTDIR]   (run from the repository root, as root)
# Builds the release binaries first unless NO_BUILD=1.
set -eu

DESTDIR=${1:-${DESTDIR:-}}
cd "$(dirname "$0")/.."

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release --bins
fi
BIN=${BIN:-target/release}

install -d "$DESTDIR/usr/sbin" "$DESTDIR/usr/bin" \
    "$DESTDIR/usr/lib/heartbeat-rs/resource.d" "$DESTDIR/usr/share/heartbeat" \
    "$DESTDIR/etc/ha.d/resource.d" "$DESTDIR/etc/init.d" \
    "$DESTDIR/lib/systemd/system" "$DESTDIR/var/lib/heartbeat" "$DESTDIR/etc/logrotate.d" \
    "$DESTDIR/usr/share/doc/heartbeat-rs/examples"

install -m 0755 "$BIN/heartbeat" "$DESTDIR/usr/sbin/heartbeat"
for tool in cl_status hb_standby hb_takeover; do
    install -m 0755 "$BIN/$tool" "$DESTDIR/usr/bin/$tool"
done
# Where the original's scripts and habits look for hb_standby / hb_takeover.
for tool in hb_standby hb_takeover; do
    ln -sf "/usr/bin/$tool" "$DESTDIR/usr/share/heartbeat/$tool"
done

for s in resource.d/*; do
    [ -f "$s" ] && install -m 0755 "$s" "$DESTDIR/usr/lib/heartbeat-rs/resource.d/"
done

install -m 0755 etc/init.d/heartbeat "$DESTDIR/etc/init.d/heartbeat"
install -m 0644 etc/systemd/heartbeat.service "$DESTDIR/lib/systemd/system/heartbeat.service"
install -m 0644 etc/logrotate.d/heartbeat "$DESTDIR/etc/logrotate.d/heartbeat"

# Samples: never overwrite a live configuration.
for f in ha.cf haresources authkeys; do
    [ -f "etc/ha.d/$f" ] || continue
    install -m 0644 "etc/ha.d/$f" "$DESTDIR/usr/share/doc/heartbeat-rs/examples/$f"
    if [ ! -e "$DESTDIR/etc/ha.d/$f" ]; then
        mode=0644
        # authkeys holds the cluster secret: readable by root only, or heartbeat refuses it.
        [ "$f" = authkeys ] && mode=0600
        install -m "$mode" "etc/ha.d/$f" "$DESTDIR/etc/ha.d/$f"
    fi
done

if [ -z "$DESTDIR" ]; then
    getent group haclient >/dev/null 2>&1 || groupadd --system haclient 2>/dev/null || true
    command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload 2>/dev/null || true
fi

cat <<MSG
heartbeat-rs installed${DESTDIR:+ under $DESTDIR}.
  - Edit /etc/ha.d/ha.cf, haresources and authkeys (authkeys must stay mode 600:
    chmod 600 /etc/ha.d/authkeys; change its secret on both nodes).
  - Check with: heartbeat --check
  - Start with: systemctl enable --now heartbeat   (or /etc/init.d/heartbeat start)
MSG
