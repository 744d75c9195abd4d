#!/usr/bin/env bash
# The test command of the README: installs what the tests need (tests/deps.sh: Debian packages),
# then runs the whole suite: unit, property, simulation and, as root, the network-namespace
# end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
    bash tests/deps.sh test
else
    bash tests/deps.sh test || echo "tests/run.sh: run as root to install what is missing; the namespace tests are skipped without it" >&2
fi
cargo test --all-targets --no-fail-fast "$@"
