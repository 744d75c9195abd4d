#!/usr/bin/env bash
# What the project needs from the system, in one list, used by the demo, the test suite and CI.
#
#   bash tests/deps.sh demo [ours|heartbeat|keepalived]   # the demo (and its --peer)
#   bash tests/deps.sh test                               # the whole test suite
#
# Each needed tool is checked; missing ones are installed from Debian's packages when running as
# root (apt-get), and every tool is checked again afterwards. Exit 0 when everything is there;
# otherwise a message per missing tool naming the package, and exit 1. Sourcing the file only
# defines the functions.

# tool|package|why — one line per need; a tool is a command name or an absolute path.
deps_common=(
    "ip|iproute2|network namespaces, veth links and addresses of the test bed"
    "nft|nftables|packet loss and isolation rules of the test bed"
    "unshare|util-linux|a mount namespace per node (its own /etc/ha.d and /run)"
    "/bin/busybox|busybox|busybox httpd, the HTTP service behind the VIP"
    "cargo|-|the Rust toolchain (rustup or Debian's cargo) to build the project"
)
deps_test=(
    "arping|iputils-arping|gratuitous ARP of resource.d/IPaddr (the script path; the daemon needs none)"
    "ping|iputils-ping|ping nodes seen from the test namespaces"
    "curl|curl|HTTP clients of the resource tests"
    "python3|python3|the small helpers of the resource tests"
    "apache2ctl|apache2|the LSB init-script resource tests"
    "ipvsadm|ipvsadm|the LVS resource tests (the nft backend runs where the kernel lacks IPVS)"
    "shellcheck|shellcheck|lint of the shipped shell scripts"
    "tcpdump|tcpdump|captures of gratuitous ARP and neighbour advertisements"
    "man|man-db|the man pages of the Debian package are rendered by its test"
    "nsenter|util-linux|commands inside a node installed with dpkg -i in an overlay root"
    "dpkg-deb|dpkg|the Debian package is built and installed by its test"
    "adduser|adduser|the package's postinst creates hacluster and haclient"
    "/usr/sbin/stonith|cluster-glue|fencing through stonith(8) and an external/ plugin"
    "keepalived|keepalived|keepalived, a peer of the end-to-end comparisons"
    "/usr/libexec/heartbeat/heartbeat|heartbeat|the real Heartbeat 3.0.6, the interoperability peer"
    "/usr/lib/ocf/resource.d/heartbeat/Filesystem|resource-agents|OCF agents (Filesystem, Dummy) behind haresources entries"
    "mkfs.ext4|e2fsprogs|the ext4 image of the Filesystem failover test"
    "losetup|mount|the loop device of the Filesystem failover test"
    "modprobe|kmod|the Filesystem agent refuses to run without it"
    "crm_verify|pacemaker-cli-utils|heartbeat --export cib is checked with crm_verify and crm_simulate"
    "pcs|pcs|heartbeat --export pcs is run offline with pcs -f"
    "crm|crmsh|heartbeat --export crm is loaded with crmsh into a CIB file"
    "corosync|corosync|the real Corosync + Pacemaker pair built from heartbeat --export"
    "pacemakerd|pacemaker|the real Corosync + Pacemaker pair built from heartbeat --export"
    "openssl|openssl|the TLS server (s_server) behind the director's HTTPS check test"
    "pgrep|procps|the director's test that a hung check command is killed"
    "qemu-system-x86_64|qemu-system-x86|a test machine booting Debian's kernel, which has IPVS (tests/vm/run.sh)"
    "cpio|cpio|the test machine's initramfs"
)
deps_peer_heartbeat=("/usr/libexec/heartbeat/heartbeat|heartbeat|the real Heartbeat 3.0.6 as the demo's peer")
deps_peer_keepalived=("keepalived|keepalived|keepalived as the demo's peer")

deps_have() {
    case "$1" in
        /*) [ -x "$1" ] ;;
        *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
    esac
}

# deps_ensure LINE...: install what is missing, then report what still is. Returns 1 if anything
# is missing at the end.
deps_ensure() {
    local line tool pkg why missing_pkgs=()
    for line in "$@"; do
        IFS='|' read -r tool pkg why <<<"$line"
        if ! deps_have "$tool" && [ "$pkg" != "-" ]; then
            missing_pkgs+=("$pkg")
        fi
    done
    if [ "${#missing_pkgs[@]}" -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "deps: installing ${missing_pkgs[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >/dev/null
            apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
        fi
    fi
    local bad=0
    for line in "$@"; do
        IFS='|' read -r tool pkg why <<<"$line"
        if ! deps_have "$tool"; then
            if [ "$pkg" = "-" ]; then
                echo "deps: $tool not found: $why" >&2
            else
                echo "deps: $tool not found (Debian package $pkg): $why; install it with: apt-get install $pkg" >&2
            fi
            bad=1
        fi
    done
    return "$bad"
}

deps_main() {
    local what="${1:-test}" peer="${2:-ours}"
    case "$what" in
        demo)
            local lines=("${deps_common[@]}")
            case "$peer" in
                ours) ;;
                heartbeat) lines+=("${deps_peer_heartbeat[@]}") ;;
                keepalived) lines+=("${deps_peer_keepalived[@]}") ;;
                *) echo "deps: unknown peer '$peer' (ours, heartbeat or keepalived)" >&2; return 2 ;;
            esac
            deps_ensure "${lines[@]}"
            ;;
        test) deps_ensure "${deps_common[@]}" "${deps_test[@]}" ;;
        *) echo "usage: bash tests/deps.sh demo [ours|heartbeat|keepalived] | test" >&2; return 2 ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    deps_main "$@"
fi
