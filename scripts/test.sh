#!/usr/bin/env bash
# The whole test suite: installs prerequisites, starts the test broker (Tansu, a Kafka-protocol
# broker, on 127.0.0.1), runs `cargo test`, and stops the broker again. Extra arguments go to
# `cargo test`. Ends with one line that totals every test binary: `N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prerequisites.sh
scripts/test-broker.sh start
trap 'scripts/test-broker.sh stop' EXIT
export SLACAP_TEST_BROKERS="127.0.0.1:${SLACAP_TEST_BROKER_PORT:-9092}"
log="$(mktemp)"
status=0
cargo test --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
scripts/test-broker.sh stop
trap - EXIT
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
exit "$status"
