"""Backtest of the demand forecast against a naive seasonal baseline (bench/README.md, "Demand forecast").

    uv run python bench/forecast.py                 # evaluation seeds 1-5, the numbers in the README
    uv run python bench/forecast.py --seeds 0       # the tuning seed (what `auto` was chosen on)

History: six weeks of the example DAGs on cron timetables with noise (bench/forecast_data.py). Origins:
every midnight of the last week, forecasting the next 24 h per fleet and per DAG; plus a "new
deployment" case that sees only the last 48 h of history.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd  # noqa: E402
from forecast_data import START, example_tasks, history, resources_of  # noqa: E402

from airflow_ai_scheduler.forecast.backtest import backtest  # noqa: E402

#: evaluation default; the tuning seed also ran ets and schedule_ets (= what auto chose) — see bench/README.md
METHODS = ("seasonal_naive", "schedule", "mstl", "auto")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--weeks", type=int, default=6)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--by", nargs="+", default=["fleet", "dag"])
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # Airflow's DagBag and statsforecast chatter on stdout
    warnings.simplefilter("ignore")
    resources = resources_of(example_tasks())
    end = START + timedelta(weeks=args.weeks)
    origins = [end - timedelta(days=d) for d in range(7, 0, -1)]
    cases = [("full history", None, args.methods), ("last 48 h only", 48, [m for m in args.methods
                                                                           if m in ("schedule", "ets", "auto")])]
    frames = []
    for seed in args.seeds:
        rows, schedule = history(seed, args.weeks)
        for by in args.by:
            for case, hours, methods in cases:
                t0 = time.perf_counter()
                res = backtest(rows, schedule, origins, horizon=args.horizon, methods=methods, by=by,
                               history_hours=hours, resources=resources, metric="task_hours")
                res.insert(0, "case", case)
                res.insert(0, "by", by)
                res.insert(0, "seed", seed)
                frames.append(res)
                print(f"seed {seed} by {by} {case}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    allres = pd.concat(frames, ignore_index=True)
    cols = ["MAPE %", "WAPE %", "cover 80 %", "cover 95 %", "width 80", "seconds"]
    table = (allres.groupby(["by", "case", "method"], sort=False)[cols].mean().round(2).reset_index())
    chose = allres.groupby(["by", "case", "method"], sort=False)["chose"].agg(lambda s: ",".join(sorted(set(
        ",".join(s).split(","))))).reset_index()
    table = table.merge(chose, on=["by", "case", "method"])
    out = Path(__file__).parent / "results" / f"forecast_seeds_{'_'.join(map(str, args.seeds))}.md"
    out.write_text(table.to_markdown(index=False) + "\n")
    print(f"seeds {args.seeds}, {args.weeks} weeks, horizon {args.horizon} h, 7 origins (mean over seeds)")
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
