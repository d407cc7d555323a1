#!/usr/bin/env bash
# Forecast accuracy on public series: slacap's forecaster against statsmodels and statsforecast.
# Makes (once) a venv at ~/.cache/slacap/venv-forecast with the pinned packages below, then runs
# scripts/forecast_accuracy.py, which prints Markdown tables to stdout. Arguments go to the script
# (--slacap PATH, --series NAME). The binary is $SLACAP_BIN, else the first that exists of
# $CARGO_TARGET_DIR/release, ~/.cache/slacap/target/release, then the same two debug dirs;
# build it first with `cargo build --release`. Without it only the reference rows are printed.
# statsforecast is optional: if it does not install, the table falls back to statsmodels' ETS.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SLACAP_FORECAST_VENV:-$HOME/.cache/slacap/venv-forecast}"
# Pinned on CPython 3.11 (wheels only); the full dependency closure, so runs are reproducible.
core=(numpy==2.4.6 scipy==1.17.1 pandas==2.3.3 statsmodels==0.15.0 patsy==1.0.3
  formulaic==1.2.2 interface-meta==2.0.1 narwhals==2.29.0 typing-extensions==4.16.0
  wrapt==2.5.2 packaging==26.4 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6)
optional=(statsforecast==2.1.1 coreforecast==0.0.20 utilsforecast==0.2.17 fugue==0.9.7
  triad==1.0.4 adagio==0.2.6 cloudpickle==3.1.3 fsspec==2026.9.0 pyarrow==26.0.1 six==1.17.0
  threadpoolctl==3.8.0 tqdm==4.70.1)

stamp="$venv/.slacap-pins"
want="$(printf '%s\n' "${core[@]}" "${optional[@]}")"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "forecast-accuracy: preparing $venv" >&2
  python3 -m venv "$venv"
  pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all:)
  "${pip[@]}" "${core[@]}"
  if "${pip[@]}" "${core[@]}" "${optional[@]}"; then
    printf '%s\n' "$want" >"$stamp"
  else  # no stamp: the next run tries again
    echo "forecast-accuracy: statsforecast did not install; AutoETS is left out" >&2
  fi
fi

exec "$venv/bin/python" scripts/forecast_accuracy.py "$@"
