#!/usr/bin/env bash
# One command from a fresh checkout to a running demo: installs build prerequisites, builds
# slacap, and runs `slacap demo` (an embedded Kafka broker, a synthetic month of events, the API
# on http://127.0.0.1:8080). Extra arguments go to `slacap demo` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prerequisites.sh
exec cargo run --quiet -- demo "$@"
