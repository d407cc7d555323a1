#!/usr/bin/env bash
# The whole test suite: installs prerequisites, starts the test broker (Tansu, a Kafka-protocol
# broker, on 127.0.0.1), runs `cargo test`, and stops the broker again. Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prerequisites.sh
scripts/test-broker.sh start
trap 'scripts/test-broker.sh stop' EXIT
export SLACAP_TEST_BROKERS="127.0.0.1:${SLACAP_TEST_BROKER_PORT:-9092}"
cargo test "$@"
