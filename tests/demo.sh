#!/usr/bin/env bash
# The README's main command: `sudo bash tests/demo.sh [--peer ours|heartbeat|keepalived]`.
# Installs the Debian packages the demo needs, builds in release mode, and runs the two-node
# failover demo (examples/demo.rs) in network namespaces. Exit 0 only if every step happened.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/demo.sh: run as root (network namespaces): sudo bash tests/demo.sh" >&2
    exit 2
fi

peer=ours
if [ "${1:-}" = "--peer" ]; then peer="${2:-ours}"; fi

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip || need_pkgs+=(iproute2)
have nft || need_pkgs+=(nftables)
have unshare || need_pkgs+=(util-linux)
[ -x /bin/busybox ] || need_pkgs+=(busybox)
case "$peer" in
    heartbeat) [ -x /usr/libexec/heartbeat/heartbeat ] || need_pkgs+=(heartbeat) ;;
    keepalived) have keepalived || [ -x /usr/sbin/keepalived ] || need_pkgs+=(keepalived) ;;
esac
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    echo "tests/demo.sh: installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

cargo build --release --bins --example demo
exec target/release/examples/demo "$@"
