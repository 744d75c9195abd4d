#!/usr/bin/env bash
# Runs a command as root inside a small virtual machine that boots Debian's stock kernel, for
# the tests that need a kernel feature this machine's kernel lacks (IPVS: `ip_vs` is a module of
# Debian's kernel, absent here). The machine sees this machine's root file system read-only
# (9p) under a tmpfs overlay (writes stay inside), a fresh /run, and WORKDIR shared read-write
# at the same path; /lib/modules is the kernel package's, unpacked in the cache, so modules
# load as usual (`ip link add … type veth`, nft, ipvsadm).
#
#   bash tests/vm/run.sh WORKDIR COMMAND...    # exit code: the command's (or 125: no boot)
#   bash tests/vm/run.sh --prepare             # only fetch and unpack the kernel
#
# Software emulation (TCG): KVM inside this kind of machine does not start a guest. Needs
# qemu-system-x86, cpio, kmod and apt-get download (tests/deps.sh test installs them).
# Cache: $HBRS_VM_CACHE, default target/vm beside this repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${HBRS_VM_CACHE:-$here/../../target/vm}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

fetch() { # fetch PACKAGE: the .deb in the cache (apt-get download, lists refreshed once)
    local pkg="$1"
    ls "$cache/$pkg"_*.deb >/dev/null 2>&1 && return 0
    (cd "$cache" && { apt-get download "$pkg" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get download "$pkg" >/dev/null 2>&1; }; }) || {
        echo "vm: cannot download the Debian package $pkg" >&2
        return 1
    }
}

prepare() {
    [ -f "$cache/ready" ] && return 0
    local image
    image="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    if [ -z "$image" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        image="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    fi
    [ -n "$image" ] || { echo "vm: no linux-image-amd64 in apt's lists" >&2; return 1; }
    fetch "$image"
    fetch busybox-static
    rm -rf "$cache/kernel" "$cache/bb" "$cache/initrd"
    dpkg-deb -x "$cache/$image"_*.deb "$cache/kernel"
    dpkg-deb -x "$cache"/busybox-static_*.deb "$cache/bb"
    local ver
    ver="$(ls "$cache/kernel/lib/modules")"
    depmod -b "$cache/kernel" "$ver"
    # The initramfs: static busybox, the modules that reach the shared root, and init.
    local ird="$cache/initrd"
    mkdir -p "$ird/bin" "$ird/mods" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/host"
    cp "$cache/bb/bin/busybox" "$ird/bin/busybox"
    for m in virtio_pci 9pnet_virtio 9p overlay; do
        modprobe -d "$cache/kernel" -S "$ver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
    done | awk '!seen[$0]++' | while read -r ko; do
        cp "$ko" "$ird/mods/"
        basename "$ko" >>"$ird/mods/order"
    done
    cp "$here/init" "$ird/init"
    chmod 755 "$ird/init"
    (cd "$ird" && find . | cpio -o -H newc --quiet) | gzip -1 >"$cache/initrd.gz"
    echo "$ver" >"$cache/ready"
}

if [ "${1:-}" = "--prepare" ]; then
    prepare
    exit
fi
[ $# -ge 2 ] || { echo "usage: $0 WORKDIR COMMAND..." >&2; exit 2; }
work="$(cd "$1" && pwd)"
shift
prepare
ver="$(cat "$cache/ready")"
# What init runs: the command, in the caller's directory.
{
    echo "#!/bin/sh"
    printf 'cd %q\n' "$PWD"
    printf '%q ' "$@"
    echo
} >"$work/vm-command"
chmod 755 "$work/vm-command"
rm -f "$work/vm-exit"
# Output of the command on the serial console; the kernel's own stays quiet.
timeout "${HBRS_VM_TIMEOUT:-1500}" qemu-system-x86_64 \
    -accel tcg,thread=multi -smp 2 -m "${HBRS_VM_MEM:-2048}" \
    -nographic -no-reboot -nic none \
    -kernel "$cache/kernel/boot/vmlinuz-$ver" -initrd "$cache/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 hbrs.work=$work hbrs.kernel=$cache/kernel" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$work,mount_tag=work,security_model=none,multidevs=remap" </dev/null || true
if [ -f "$work/vm-exit" ]; then
    exit "$(cat "$work/vm-exit")"
fi
echo "vm: the machine did not run the command to its end" >&2
exit 125
