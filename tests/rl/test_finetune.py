"""Fine-tuning from history: logged decisions become transitions; the guard keeps the better policy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from airflow_ai_scheduler.rl.features import CANDIDATE_FEATURES

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def rows():
    """One 1-slot fleet: at 0 three tries are due (a 1 h, b 0.1 h, c 0.1 h); they ran a, b, c."""
    out = []
    for k, (task, start, hours) in enumerate((("a", 0.0, 1.0), ("b", 1.0, 0.1), ("c", 1.1, 0.1))):
        s = T0 + timedelta(hours=start)
        out.append({"id": k, "dag_id": "d", "task_id": task, "run_id": f"r{k}", "fleet": "f", "tier": "spot",
                    "planned_start": T0, "actual_start": s, "actual_end": s + timedelta(hours=hours),
                    "runtime_seconds": hours * 3600, "outcome": "success", "price_per_hour_at_launch": 0.3})
    return out


def test_logged_starts_become_transitions(torch):
    from airflow_ai_scheduler.rl.finetune import history_transitions

    ts = history_transitions(rows())
    assert len(ts) == 2  # a chosen among 3, then b among 2 (c alone: no choice)
    first, second = ts
    assert first.mask.sum() == 3 and second.mask.sum() == 2 and second.done and not first.done
    runtime = [*CANDIDATE_FEATURES].index("runtime")
    chosen = first.x[first.action]
    assert chosen[runtime] == first.x[first.mask.astype(bool), runtime].max()  # a, the long one, was chosen
    assert first.reward < 0 and np.array_equal(first.next_x, second.x)


def test_the_guard_keeps_the_previous_policy_when_the_new_one_is_worse(torch, tmp_path, monkeypatch):
    from airflow_ai_scheduler.rl import finetune as ft
    from airflow_ai_scheduler.rl import training
    from airflow_ai_scheduler.rl.policy import QFunction, default_policy_path
    from airflow_ai_scheduler.simulate import dispatch_workload

    current = QFunction.load(default_policy_path())
    worse = QFunction([(w, b) for w, b in current.layers[:-1]] + [(-current.layers[-1][0], -current.layers[-1][1])],
                      dict(current.meta))
    monkeypatch.setattr(training, "train_policy", lambda **kw: (worse, []))
    monkeypatch.setattr(dispatch_workload, "dags_from_history", lambda *a, **kw: [])  # the generic workloads
    monkeypatch.setattr(ft, "GUARD_BASE", 7)
    out = tmp_path / "policy.npz"
    record = ft.finetune(rows(), out=out, steps=10, workloads=2)
    assert record["kept"] == "previous" and record["new_score"] < record["previous_score"]
    assert record["logged_decisions"] == 2
    kept = QFunction.load(out)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(kept.layers, current.layers, strict=True))


def test_finetune_runs_end_to_end_from_a_history_json(torch, tmp_path, capsys):
    import json

    from airflow_ai_scheduler.cli.main import main

    path = tmp_path / "history.json"
    path.write_text(json.dumps(rows(), default=str))
    out = tmp_path / "p.npz"
    assert main(["rl", "finetune", "--history-json", str(path), "--out", str(out), "--steps", "60",
                 "--workloads", "1"]) == 0
    text = capsys.readouterr().out
    record = json.loads(text[text.index("{\n"):])
    assert out.is_file() and record["dags_from_history"] == ["d"] and record["logged_decisions"] == 2
    assert record["kept"] in ("new", "previous") and record["written"] == str(out)
