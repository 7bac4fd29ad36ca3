"""Online fine-tuning of the RL dispatcher from the history table, with a guard that keeps the old policy.

1. **Logged decisions** (off-policy data): for each fleet, every try's start is a decision among the tries
   that were due then and had not started (due = the try's planned start; a try without one is taken to
   be due when it started). The chosen try, the candidates' features (as :mod:`.features` builds them,
   runtimes = the task's mean successful runtime in the history) and the reward until the fleet's next
   decision (the environment's: run-hours elapsed, tasks finishing after their deadline, tries that waited
   past the starvation threshold) form one transition. Deadlines and priorities come from the runs' stored
   manifests when given. Whatever policy made those decisions, Q-learning learns from them (off-policy).
2. **Simulator experience** on workloads built from the history's own DAGs and runtimes
   (:func:`~airflow_ai_scheduler.simulate.dispatch_workload.dags_from_history`), or the generic ones when
   the history is too thin.
3. A few thousand DQN steps start from the policy in force; a quarter of each batch is drawn from the
   logged transitions.
4. **Guard**: the old and the new policy play the same held-out workloads; the new one replaces the old
   only if its mean return is at least as good. Either way a record says what happened.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from airflow_ai_scheduler.dispatch.base import Candidate, FleetView
from airflow_ai_scheduler.rl.env import COMPLETION_WEIGHT, MISS_WEIGHT, STARVATION_WEIGHT
from airflow_ai_scheduler.rl.features import (
    MAX_CANDIDATES,
    N_FEATURES,
    STARVATION_FACTOR,
    STARVATION_FLOOR_H,
    featurize,
    shortlist,
)

GUARD_BASE = 400_000  #: held-out workload seeds of the guard (not used by training or bench)


def _dt(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def history_rows(db: str | None = None, path: Path | None = None, limit: int = 20_000) -> list[dict[str, Any]]:
    """The latest ``limit`` history rows, from a database URL or a JSON file (a list of row objects)."""
    if path is not None:
        rows = json.loads(Path(path).read_text())
        return [{**r, **{k: _dt(r.get(k)) for k in ("actual_start", "actual_end", "planned_start")}} for r in rows]
    from sqlalchemy import create_engine, select

    from airflow_ai_scheduler.history.tables import task_history

    engine = create_engine(str(db))
    try:
        with engine.connect() as conn:
            q = select(task_history).order_by(task_history.c.id.desc()).limit(limit)
            return [dict(r) for r in conn.execute(q).mappings()]
    finally:
        engine.dispose()


def history_transitions(rows: Sequence[Mapping[str, Any]], manifests: Mapping[tuple[str, str], Any] | None = None
                        ) -> list[Any]:
    """The logged decisions of ``rows`` as DQN transitions (see the module docstring)."""
    from airflow_ai_scheduler.rl.dqn import Transition

    runtimes: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r.get("outcome") == "success" and r.get("runtime_seconds"):
            runtimes[(r["dag_id"], r["task_id"])].append(float(r["runtime_seconds"]) / 3600)
    mean = {k: sum(v) / len(v) for k, v in runtimes.items()}
    tries = [r for r in rows if r.get("actual_start") is not None and r.get("fleet")]
    by_fleet: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in tries:
        by_fleet[r["fleet"]].append(r)
    out: list[Any] = []
    for fleet, rs in by_fleet.items():
        rs.sort(key=lambda r: r["actual_start"])
        slots = _max_concurrency(rs)
        decisions = []
        for r in rs:
            t = r["actual_start"]
            due = [y for y in rs if (y.get("planned_start") or y["actual_start"]) <= t <= y["actual_start"]]
            if len(due) < 2:
                continue
            cands = [_candidate(y, t, mean, manifests) for y in due]
            running = [y for y in rs if y["actual_start"] < t < (y.get("actual_end") or t)]
            view = FleetView(fleet, str(r.get("tier") or "on-demand"), slots, max(1, slots - len(running)))
            seen = shortlist(cands, t)
            chosen = next((i for i, c in enumerate(seen) if c.key == id(r)), None)
            if chosen is not None:
                decisions.append((t, featurize(seen, view, t), chosen))
        for i, (t, x, a) in enumerate(decisions):
            done = i == len(decisions) - 1
            t_next = decisions[i + 1][0] if not done else max((y.get("actual_end") or t) for y in rs)
            nx = decisions[i + 1][1] if not done else np.zeros((0, N_FEATURES), np.float32)
            out.append(Transition(_pad(x), _mask(x), a, _reward(rs, t, t_next, mean, manifests), _pad(nx),
                                  _mask(nx), done))
    return out


def _max_concurrency(rs: Sequence[Mapping[str, Any]]) -> int:
    events = sorted([(r["actual_start"], 1) for r in rs] + [(r["actual_end"], -1) for r in rs if r.get("actual_end")])
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return max(1, peak)


def _deadline(r: Mapping[str, Any], manifests: Mapping[tuple[str, str], Any] | None) -> tuple[datetime | None, int]:
    m = (manifests or {}).get((r["dag_id"], r["run_id"]))
    job = m.job_map.get(r["task_id"]) if m is not None else None
    return (job.deadline, job.priority) if job is not None else (None, 1)


def _candidate(r: Mapping[str, Any], t: datetime, mean: Mapping[tuple[str, str], float],
               manifests: Mapping[tuple[str, str], Any] | None) -> Candidate:
    deadline, priority = _deadline(r, manifests)
    due = r.get("planned_start") or r["actual_start"]
    runtime = mean.get((r["dag_id"], r["task_id"]), float(r.get("runtime_seconds") or 360) / 3600)
    return Candidate(key=id(r), dag_id=r["dag_id"], task_id=r["task_id"], run_id=r["run_id"],
                     priority=priority, deadline=deadline, expected_runtime_hours=runtime,
                     expected_cost=runtime * float(r.get("price_per_hour_at_launch") or 0.0),
                     waiting_seconds=(t - due).total_seconds())


def _reward(rs: Sequence[Mapping[str, Any]], t0: datetime, t1: datetime, mean: Mapping[tuple[str, str], float],
            manifests: Mapping[tuple[str, str], Any] | None) -> float:
    spans: dict[str, list[datetime]] = {}
    for r in rs:
        s, e = r.get("planned_start") or r["actual_start"], r.get("actual_end") or r["actual_start"]
        span = spans.setdefault(r["run_id"], [s, e])
        span[0], span[1] = min(span[0], s), max(span[1], e)
    run_hours = sum(max(0.0, (min(e, t1) - max(s, t0)).total_seconds() / 3600) for s, e in spans.values())
    misses = starved = 0
    for r in rs:
        deadline, _ = _deadline(r, manifests)
        end = r.get("actual_end")
        if deadline is not None and t0 < deadline <= t1 and (end is None or end > deadline):
            misses += 1
        rt = mean.get((r["dag_id"], r["task_id"]), 0.1)
        limit = (r.get("planned_start") or r["actual_start"]) + timedelta(
            hours=max(STARVATION_FACTOR * rt, STARVATION_FLOOR_H))
        if t0 < limit <= t1 and r["actual_start"] > limit:
            starved += 1
    return -(COMPLETION_WEIGHT * run_hours + MISS_WEIGHT * misses + STARVATION_WEIGHT * starved)


def _pad(x: np.ndarray) -> np.ndarray:
    out = np.zeros((MAX_CANDIDATES, N_FEATURES), np.float32)
    out[: len(x)] = x
    return out


def _mask(x: np.ndarray) -> np.ndarray:
    m = np.zeros(MAX_CANDIDATES, np.int8)
    m[: len(x)] = 1
    return m


def finetune(rows: Sequence[Mapping[str, Any]], *, out: Path, policy: Path | None = None, steps: int = 5_000,
             seed: int = 0, workloads: int = 6, manifests: Mapping[tuple[str, str], Any] | None = None,
             log: Any = print) -> dict[str, Any]:
    """Fine-tune the policy in force on ``rows``; write the better of old and new to ``out``; the record."""
    from airflow_ai_scheduler.rl.policy import QFunction, RLDispatchPolicy, default_policy_path
    from airflow_ai_scheduler.rl.training import evaluate, train_policy
    from airflow_ai_scheduler.simulate.dispatch_workload import dags_from_history, generate_workload

    current = QFunction.load(policy or default_policy_path())
    transitions = history_transitions(rows, manifests)
    by_dag = {dag: m for (dag, _run), m in (manifests or {}).items()}
    dags = [d for d in dags_from_history(rows, by_dag) if d.tasks]

    def workload(s: int) -> Any:
        return generate_workload(s, dags=dags) if dags else generate_workload(s)

    new, curve = train_policy(steps=steps, seed=seed, eval_every=steps, workload=workload, init=current,
                              pinned=transitions, pinned_share=0.25 if transitions else 0.0, log=log)
    seeds = [GUARD_BASE + i for i in range(workloads)]
    res = evaluate({"previous": lambda: RLDispatchPolicy(q=current), "new": lambda: RLDispatchPolicy(q=new)},
                   seeds, workload)
    old_score = sum(s for _, s in res["previous"]) / len(seeds)
    new_score = sum(s for _, s in res["new"]) / len(seeds)
    kept = "new" if new_score >= old_score else "previous"
    (new if kept == "new" else current).save(out)
    return {"history_rows": len(rows), "logged_decisions": len(transitions), "dags_from_history": [d.dag_id for d in dags],
            "steps": steps, "seed": seed, "guard_workloads": seeds, "previous_score": old_score,
            "new_score": new_score, "kept": kept, "written": str(out)}
