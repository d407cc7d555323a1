#!/usr/bin/env bash
# Benchmarks (release build).
#   scripts/bench.sh            pipeline throughput: starts the test broker, runs
#                               benches/pipeline.rs, stops the broker. SLACAP_BENCH_MONTHS sets the
#                               volume (default 3 months, about 1.1 million events).
#   scripts/bench.sh s3         the same with the history in a bucket of the test S3 server
#                               (moto's, started and stopped here).
#   scripts/bench.sh forecast   model selections per second (benches/forecast.rs; no broker).
#   scripts/bench.sh alerts     alert latency to a webhook under load (benches/alert_latency.rs).
#   scripts/bench.sh startup    start-up time and peak RSS after 1 and 12 months of history, and
#                               the cost of one late event six months back (benches/startup.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prerequisites.sh
if [ "${1:-pipeline}" = forecast ]; then
  exec cargo bench --bench forecast
fi
scripts/test-broker.sh start
trap 'scripts/test-broker.sh stop' EXIT
export SLACAP_TEST_BROKERS="127.0.0.1:${SLACAP_TEST_BROKER_PORT:-9092}"
if [ "${1:-pipeline}" = s3 ]; then
  scripts/test-s3.sh start
  trap 'scripts/test-broker.sh stop; scripts/test-s3.sh stop' EXIT
  export SLACAP_BENCH_S3="http://127.0.0.1:${SLACAP_TEST_S3_PORT:-9094}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-slacap-bench}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-slacap-bench}"
  cargo bench --bench pipeline
elif [ "${1:-pipeline}" = alerts ]; then
  cargo bench --bench alert_latency
elif [ "${1:-pipeline}" = startup ]; then
  cargo bench --bench startup
else
  cargo bench --bench pipeline
fi
