"""Features and the numpy ``rl`` policy: no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from airflow_ai_scheduler.dispatch import Candidate, FleetView, get_policy
from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.rl.features import (
    CANDIDATE_FEATURES,
    MAX_CANDIDATES,
    N_FEATURES,
    featurize,
    shortlist,
)
from airflow_ai_scheduler.rl.policy import FORMAT, QFunction, RLDispatchPolicy, default_policy_path

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
FLEET = FleetView(name="f", tier="spot", slots=4, free_slots=2, running_by_dag={"a": 2})


def cand(i, **kw):
    if "deadline_h" in kw:
        kw["deadline"] = NOW + timedelta(hours=kw.pop("deadline_h"))
    return Candidate(key=i, dag_id=kw.pop("dag", "a"), task_id=f"t{i}", **kw)


def linear_q(feature: str, sign: float = 1.0) -> QFunction:
    """A 'network' whose Q is sign × one feature (two identity-ish ReLU layers)."""
    col = [*CANDIDATE_FEATURES].index(feature)
    w0 = np.zeros((N_FEATURES, 1), np.float32)
    w0[col, 0] = 1.0
    layers = [(w0, np.full(1, 10.0, np.float32)), (np.eye(1, dtype=np.float32), np.zeros(1, np.float32)),
              (np.full((1, 1), sign, np.float32), np.zeros(1, np.float32))]
    from airflow_ai_scheduler.rl.features import FLEET_FEATURES

    return QFunction(layers, {"format": FORMAT, "features": [*CANDIDATE_FEATURES, *FLEET_FEATURES]})


def test_features_have_a_fixed_shape_and_sane_values():
    cs = [cand(0, deadline_h=1, expected_runtime_hours=2.0), cand(1, expected_runtime_hours=0.1, waiting_seconds=3600),
          cand(2, dag="b", priority=9, priority_weight=5, descendants=3, run_remaining_hours=4.0)]
    x = featurize(cs, FLEET, NOW)
    assert x.shape == (3, N_FEATURES) and x.dtype == np.float32 and np.isfinite(x).all()
    col = {n: i for i, n in enumerate(CANDIDATE_FEATURES)}
    assert x[0, col["late"]] == 1 and x[0, col["has_deadline"]] == 1 and x[1, col["has_deadline"]] == 0
    assert x[1, col["runtime_rank"]] == 0 and x[0, col["runtime_rank"]] == 1
    assert x[0, col["dag_share"]] == pytest.approx(0.5) and x[2, col["dag_share"]] == 0
    assert x[1, col["wait_rank"]] == 0  # the longest waiting ranks first
    assert featurize([], FLEET, NOW).shape == (0, N_FEATURES)


def test_shortlist_keeps_the_head_of_each_order():
    cs = [cand(i, expected_runtime_hours=1 + i, waiting_seconds=i) for i in range(40)]
    cs.append(cand(99, deadline_h=0.5, expected_runtime_hours=5))
    sl = shortlist(cs, NOW)
    assert len(sl) == MAX_CANDIDATES and len({c.key for c in sl}) == MAX_CANDIDATES
    keys = {c.key for c in sl}
    assert {99, 0, 39} <= keys  # least slack, shortest, longest waiting


def test_policy_file_round_trip_and_bad_files(tmp_path):
    q = linear_q("runtime", -1.0)
    path = q.save(tmp_path / "p.npz")
    assert QFunction.load(path).meta["format"] == FORMAT
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="junk.npz.*not a dispatch policy file"):
        QFunction.load(tmp_path / "junk.npz")
    meta = {**q.meta, "features": ["something", "else"]}
    QFunction(q.layers, meta).save(tmp_path / "old.npz")
    with pytest.raises(ConfigError, match="other state features"):
        QFunction.load(tmp_path / "old.npz")


def test_rl_policy_orders_by_its_q_values_picking_one_at_a_time():
    cs = [cand(i, expected_runtime_hours=h) for i, h in enumerate([0.5, 0.1, 2.0, 1.0])]
    shortest = RLDispatchPolicy(q=linear_q("runtime", -1.0))  # Q = −runtime: shortest first
    assert [c.key for c in shortest.order(cs, FLEET, NOW)][:2] == [1, 0]
    longest = RLDispatchPolicy(q=linear_q("runtime", +1.0))
    assert [c.key for c in longest.order(cs, FLEET, NOW)][:2] == [2, 3]
    many = [cand(i, expected_runtime_hours=0.01 * (i + 1), waiting_seconds=i) for i in range(500)]
    big = FleetView(name="f", tier="spot", slots=64, free_slots=64)
    order = shortest.order(many, big, NOW)
    assert sorted(c.key for c in order) == list(range(500))
    assert [c.key for c in order[:3]] == [0, 1, 2]


def test_the_shipped_policy_loads_as_rl_without_torch():
    assert default_policy_path().is_file()
    code = ("import sys; from airflow_ai_scheduler.dispatch import get_policy; p = get_policy('rl'); "
            "print(p.name, 'torch' in sys.modules, 'gymnasium' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["rl", "False", "False"]
    assert json.loads(json.dumps(get_policy("rl").q.meta))["format"] == FORMAT
