#!/usr/bin/env bash
# The whole test suite: installs prerequisites, starts the test broker (Tansu, a Kafka-protocol
# broker, on 127.0.0.1) and the test S3 server (moto's, on 127.0.0.1:9094), runs `cargo test`,
# and stops both again. Extra arguments go to
# `cargo test`. Ends with one line that totals every test binary: `N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prerequisites.sh
scripts/test-broker.sh start
trap 'scripts/test-broker.sh stop; scripts/test-s3.sh stop' EXIT
scripts/test-s3.sh start
export SLACAP_TEST_BROKERS="127.0.0.1:${SLACAP_TEST_BROKER_PORT:-9092}"
# The S3 client reads its credentials from the environment; moto accepts any.
export SLACAP_TEST_S3="http://127.0.0.1:${SLACAP_TEST_S3_PORT:-9094}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-slacap-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-slacap-test}"
log="$(mktemp)"
status=0
cargo test --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
scripts/test-broker.sh stop
scripts/test-s3.sh stop
trap - EXIT
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
exit "$status"
