#!/usr/bin/env bash
# The test command of the README: installs what the tests need (Debian packages), then runs the
# whole suite: unit, property, simulation and, as root, the network-namespace end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have nft || need_pkgs+=(nftables)
have ip || need_pkgs+=(iproute2)
have arping || need_pkgs+=(iputils-arping)
have ping || need_pkgs+=(iputils-ping)
have curl || need_pkgs+=(curl)
have apache2ctl || need_pkgs+=(apache2)
have ipvsadm || need_pkgs+=(ipvsadm)
have python3 || need_pkgs+=(python3)
# busybox httpd: the `httpd` resource of the namespace test bed.
[ -x /bin/busybox ] || need_pkgs+=(busybox)
have shellcheck || need_pkgs+=(shellcheck)
have keepalived || need_pkgs+=(keepalived)
# The real Heartbeat 3.0.6: the peer of the interoperability tests.
[ -x /usr/libexec/heartbeat/heartbeat ] || need_pkgs+=(heartbeat)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        echo "tests/run.sh: missing ${need_pkgs[*]} (run as root to install them)" >&2
    fi
fi

cargo test --all-targets --no-fail-fast "$@"
