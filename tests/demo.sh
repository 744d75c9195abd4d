#!/usr/bin/env bash
# The README's main command: `sudo bash tests/demo.sh [--peer ours|heartbeat|keepalived]`.
# Installs what the demo needs (tests/deps.sh), builds in release mode, and runs the two-node
# failover demo (examples/demo.rs) in network namespaces. Exit 0 only if every step happened.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/demo.sh: run as root (network namespaces): sudo bash tests/demo.sh" >&2
    exit 2
fi

peer=ours
if [ "${1:-}" = "--peer" ]; then peer="${2:-ours}"; fi

bash tests/deps.sh demo "$peer"

cargo build --release --bins --example demo
exec target/release/examples/demo "$@"
