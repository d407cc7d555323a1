#!/usr/bin/env python3
"""Holdout accuracy of `slacap forecast` against Python references on public series.

Run it through scripts/forecast-accuracy.sh, which makes the venv with pinned packages.
For each series in benches/data (see the README there): train = all but the last h points,
test = the last h, with h fixed in advance by frequency (monthly 12, quarterly 8, daily 14,
hourly 48; taylor is also scored on its last week with m = 168). Every method forecasts h steps
from the end of train, and is scored on test:

* MASE  = mean|y - f| / (in-sample MAE of the seasonal naive with lag m on train);
* sMAPE = mean(200 |y - f| / (|y| + |f|));
* coverage = share of test points inside the method's 90% interval (where it gives one).

The aggregate is the geometric mean over the splits of each method's MASE relative to the
seasonal naive's on the same split (below 1 beats it), and the pooled coverage of every test
point. slacap is given every seasonal period of the series (hourly: 24 and 168); the Python
references take the one period m they support.

Methods: the seasonal naive; statsmodels Holt-Winters (additive damped trend, additive season);
statsmodels ETSModel, best AIC among error {A,M} x trend {N,Ad} x season {A,M} (only for m <= 24:
like R's ets(); at m = 168 it took ~45 s for a MASE of 3.6); statsforecast
AutoETS(season_length=m) when installed; and slacap, run as
`$SLACAP_BIN forecast --input <train.csv> --horizon h --season m --format json`.
The reference in the summary table is AutoETS, else the ETSModel pick: the model a user would
get from a standard automatic ETS, chosen on train only. Everything is deterministic.
Prints Markdown to stdout; writes nothing but a temporary train CSV.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.holtwinters import ExponentialSmoothing

try:
    from statsforecast.models import AutoETS
except ImportError:  # optional: the wrapper installs it, but the table works without it
    AutoETS = None

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches", "data")
# (file in benches/data, season m, holdout h); keep in step with benches/data/README.md
MONTHLY = ["airpassengers", "wineind", "co2", "a10", "h02", "usmelec", "elecequip", "debitcards",
           "auscafe", "gas", "nottem", "usaccdeaths", "ldeaths", "ukdriverdeaths"]
QUARTERLY = ["woolyrnq", "ausbeer", "qauselec", "qcement", "ukgas", "johnsonjohnson",
             "austourists", "euretail"]
SERIES = ([(n, 12, 12) for n in MONTHLY] + [(n, 4, 8) for n in QUARTERLY]
          + [("hyndsight", 7, 14), ("elecdaily", 7, 14)]
          + [("taylor", 24, 48), ("elecdemand", 24, 48), ("taylor", 168, 168)])
# Every seasonal period slacap is told of, the primary (m) first.
PERIODS = {24: "24,168", 168: "168,24"}
LEVEL = 90


def load(name):
    with open(os.path.join(DATA, f"{name}.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["time"] for r in rows], np.array([float(r["value"]) for r in rows])


def scores(train, test, m, mean, lower=None, upper=None):
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    err = np.abs(test - mean)
    out = {"mase": np.mean(err) / scale,
           "smape": np.mean(200 * err / (np.abs(test) + np.abs(mean)))}
    if lower is not None:
        out["coverage"] = np.mean((test >= lower) & (test <= upper))
    return out


def seasonal_naive(train, m, h):
    return {"model": "snaive", "mean": np.array([train[len(train) - m + i % m] for i in range(h)])}


def holt_winters(train, m, h):
    fit = ExponentialSmoothing(train, trend="add", damped_trend=True, seasonal="add",
                               seasonal_periods=m, initialization_method="estimated").fit()
    return {"model": "HW(A,Ad,A)", "mean": fit.forecast(h)}


def ets_aic(train, m, h):
    if m > 24:
        raise ValueError("skipped for m > 24")
    best = None
    for error in ("add", "mul"):
        for trend in (None, "add"):
            for season in ("add", "mul"):
                try:
                    fit = ETSModel(pd.Series(train), error=error, trend=trend, damped_trend=trend is not None,
                                   seasonal=season, seasonal_periods=m).fit(disp=False)
                except Exception:  # a combination that fails to fit just drops out
                    continue
                if np.isfinite(fit.aic) and (best is None or fit.aic < best[0]):
                    best = (fit.aic, fit, error, trend, season)
    _, fit, error, trend, season = best
    frame = fit.get_prediction(len(train), len(train) + h - 1, rng=np.random.default_rng(0)).summary_frame(
        alpha=1 - LEVEL / 100)
    label = "ETS({},{},{})".format(error[0].upper(), "Ad" if trend else "N", season[0].upper())
    return {"model": label, "mean": frame["mean"].to_numpy(),
            "lower": frame["pi_lower"].to_numpy(), "upper": frame["pi_upper"].to_numpy()}


def auto_ets(train, m, h):
    model = AutoETS(season_length=m).fit(train)
    pred = model.predict(h, level=[LEVEL])
    label = "AutoETS " + str(model.model_["method"]) if "method" in model.model_ else "AutoETS"
    return {"model": label, "mean": pred["mean"],
            "lower": pred[f"lo-{LEVEL}"], "upper": pred[f"hi-{LEVEL}"]}


def slacap_bin(arg):
    if arg or os.environ.get("SLACAP_BIN"):
        return arg or os.environ["SLACAP_BIN"]
    home = os.path.join(os.path.expanduser("~"), ".cache", "slacap", "target")
    roots = [os.environ.get("CARGO_TARGET_DIR"), home]
    for profile in ("release", "debug"):
        for root in filter(None, roots):
            path = os.path.join(root, profile, "slacap")
            if os.access(path, os.X_OK):
                return path
    return os.path.join(os.environ.get("CARGO_TARGET_DIR") or home, "release", "slacap")


def slacap(binary, times, train, m, h):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("time,value\n")
        f.writelines(f"{t},{v:.10g}\n" for t, v in zip(times, train))
    try:
        cmd = [binary, "forecast", "--input", f.name, "--horizon", str(h), "--season",
               PERIODS.get(m, str(m)), "--format", "json"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if run.returncode != 0:
            lines = run.stderr.strip().splitlines() or [""]
            raise RuntimeError(f"failed, exit {run.returncode}: {lines[0][:300]}")
        out = json.loads(run.stdout)
        points = out["points"]
        if len(points) != h:
            raise RuntimeError(f"failed: {len(points)} points for horizon {h}")
        col = lambda k: np.array([float(p[k]) for p in points])  # noqa: E731
        return {"model": out.get("model", "?"), "mean": col("mean"),
                "lower": col("lower"), "upper": col("upper")}
    finally:
        os.unlink(f.name)


def fmt(x, pct=False):
    if x is None:
        return "n/a"
    return f"{100 * x:.0f}%" if pct else f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slacap", help="slacap binary (default $SLACAP_BIN, then cargo target dirs)")
    ap.add_argument("--series", action="append", help="only these series (repeatable)")
    args = ap.parse_args()
    binary = slacap_bin(args.slacap)
    if not os.access(binary, os.X_OK):
        print(f"slacap binary not found at {binary}: reference rows only\n", file=sys.stderr)
        binary = None
    warnings.filterwarnings("ignore")  # statsmodels convergence chatter; results are scored anyway

    methods = [("seasonal naive", seasonal_naive), ("Holt-Winters", holt_winters),
               ("ETSModel AIC", ets_aic)]
    if AutoETS is not None:
        methods.append(("statsforecast AutoETS", auto_ets))
    else:
        print("statsforecast not importable: AutoETS skipped\n", file=sys.stderr)
    rows, detail = [], []
    for name, m, h in SERIES:
        if args.series and name not in args.series:
            continue
        times, y = load(name)
        train, test = y[:-h], y[-h:]
        res = {}
        for label, fn in methods + ([("slacap", None)] if binary else []):
            start = time.monotonic()
            try:
                fc = slacap(binary, times[:-h], train, m, h) if fn is None else fn(train, m, h)
                fc.update(scores(train, test, m, np.asarray(fc["mean"], float),
                                 fc.get("lower"), fc.get("upper")))
            except Exception as exc:  # noqa: BLE001 - report and go on with the other methods
                print(f"{name} m={m}: {label}: {exc}", file=sys.stderr)
                continue
            fc["secs"] = time.monotonic() - start
            res[label] = fc
            detail.append(f"| {name} | {m} | {label} | {fc['model']} | {fmt(fc['mase'])} | "
                          f"{fc['smape']:.2f} | {fmt(fc.get('coverage'), True)} | {fc['secs']:.1f} |")
        rows.append((name, m, h, res))

    print("| series | m | h | seasonal naive MASE | reference MASE (model) | slacap MASE (model) "
          "| slacap 90% coverage | reference 90% coverage |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for name, m, h, res in rows:
        sn = res.get("seasonal naive")
        ref = res.get("statsforecast AutoETS") or res.get("ETSModel AIC")
        sl = res.get("slacap")
        cell = lambda r: f"{fmt(r['mase'])} ({r['model']})" if r else "n/a"  # noqa: E731
        print(f"| {name} | {m} | {h} | {fmt(sn and sn['mase'])} | {cell(ref)} | {cell(sl)} | "
              f"{fmt(sl and sl.get('coverage'), True)} | {fmt(ref and ref.get('coverage'), True)} |")
        if sl and ref and sn:
            yes = lambda ok: "yes" if ok else "NO"  # noqa: E731
            best = min((r for k, r in res.items() if k not in ("slacap", "seasonal naive")),
                       key=lambda r: r["mase"])
            verdicts.append(f"{name} m={m}: slacap <= reference {yes(sl['mase'] <= ref['mase'])}, "
                            f"< seasonal naive {yes(sl['mase'] < sn['mase'])} "
                            f"(<= best reference, {best['model']}: {yes(sl['mase'] <= best['mase'])})")
        else:
            verdicts.append(f"{name} m={m}: no verdict (slacap result missing)")
    print("\nAll methods (sMAPE in %, coverage of the 90% interval, fit+forecast seconds):\n")
    print("| series | m | method | model | MASE | sMAPE | coverage | secs |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(detail))
    print("\nVerdict:\n" + "\n".join(f"- {v}" for v in verdicts))

    print("\nAggregate over the splits every method scored (geometric mean of MASE relative to "
          "the seasonal naive; pooled coverage of the 90% interval over every test point):\n")
    print("| method | splits | relative MASE (geometric mean) | worst relative MASE | pooled coverage |")
    print("|---|---|---|---|---|")
    labels = [label for label, _ in methods if label != "seasonal naive"] + ["slacap"]
    for label in labels:
        common = [res for *_, res in rows if label in res and "seasonal naive" in res]
        rel = [res[label]["mase"] / res["seasonal naive"]["mase"] for res in common]
        inside = total = 0
        for res in common:
            if "coverage" in res[label]:
                n = len(res[label]["mean"])
                inside += res[label]["coverage"] * n
                total += n
        cov = fmt(inside / total, True) if total else "n/a"
        if rel:
            print(f"| {label} | {len(rel)} | {np.exp(np.mean(np.log(rel))):.3f} | {max(rel):.3f} | {cov} |")


if __name__ == "__main__":
    main()
