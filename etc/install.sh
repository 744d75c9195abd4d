#!/bin/sh
# Installs heartbeat-rs: binaries, resource scripts, sample configuration, init script,
# systemd unit, /etc/default/heartbeat, logrotate, man pages and bash completion.
# Usage: etc/install.sh [DESTDIR]   (run from the repository root, as root)
# Builds the release binaries first unless NO_BUILD=1. PACKAGE=1 (pkg/build-deb.sh): the
# samples go to the documentation only and no user, group or systemd call is made.
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
    "$DESTDIR/usr/share/doc/heartbeat-rs/examples" "$DESTDIR/etc/default" \
    "$DESTDIR/usr/share/man/man1" "$DESTDIR/usr/share/man/man5" "$DESTDIR/usr/share/man/man8" \
    "$DESTDIR/usr/share/bash-completion/completions"

install -m 0755 "$BIN/heartbeat" "$DESTDIR/usr/sbin/heartbeat"
install -m 0755 "$BIN/hb_ldirectord" "$DESTDIR/usr/sbin/hb_ldirectord"
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
install -m 0644 etc/systemd/hb_ldirectord.service "$DESTDIR/lib/systemd/system/hb_ldirectord.service"
install -m 0644 etc/logrotate.d/heartbeat "$DESTDIR/etc/logrotate.d/heartbeat"
[ -e "$DESTDIR/etc/default/heartbeat" ] ||
    install -m 0644 etc/default/heartbeat "$DESTDIR/etc/default/heartbeat"
for page in docs/man/*.[158]; do
    section=${page##*.}
    gzip -9n -c "$page" >"$DESTDIR/usr/share/man/man$section/$(basename "$page").gz"
done
install -m 0644 etc/bash-completion/heartbeat "$DESTDIR/usr/share/bash-completion/completions/heartbeat"
for tool in cl_status hb_standby hb_takeover; do
    ln -sf heartbeat "$DESTDIR/usr/share/bash-completion/completions/$tool"
done
install -m 0644 README.md "$DESTDIR/usr/share/doc/heartbeat-rs/README.md"

# Samples: never overwrite a live configuration.
for f in ha.cf haresources authkeys; do
    [ -f "etc/ha.d/$f" ] || continue
    install -m 0644 "etc/ha.d/$f" "$DESTDIR/usr/share/doc/heartbeat-rs/examples/$f"
    if [ "${PACKAGE:-0}" != 1 ] && [ ! -e "$DESTDIR/etc/ha.d/$f" ]; then
        mode=0644
        # authkeys holds the cluster secret: readable by root only, or heartbeat refuses it.
        [ "$f" = authkeys ] && mode=0600
        install -m "$mode" "etc/ha.d/$f" "$DESTDIR/etc/ha.d/$f"
    fi
done

if [ -z "$DESTDIR" ] && [ "${PACKAGE:-0}" != 1 ]; then
    getent group haclient >/dev/null 2>&1 || groupadd --system haclient 2>/dev/null || true
    getent passwd hacluster >/dev/null 2>&1 ||
        useradd --system --gid haclient --home-dir /var/lib/heartbeat --no-create-home \
            --shell /usr/sbin/nologin hacluster 2>/dev/null || true
    if command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload 2>/dev/null || true
    fi
fi
[ "${PACKAGE:-0}" = 1 ] && exit 0

cat <<MSG
heartbeat-rs installed${DESTDIR:+ under $DESTDIR}.
  - Edit /etc/ha.d/ha.cf, haresources and authkeys (authkeys must stay mode 600:
    chmod 600 /etc/ha.d/authkeys; change its secret on both nodes).
  - Check with: heartbeat --check
  - Start with: systemctl enable --now heartbeat   (or /etc/init.d/heartbeat start)
MSG
