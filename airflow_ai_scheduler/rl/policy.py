"""The ``rl`` dispatch policy: a learned Q-function scores each due task; numpy only, no torch.

The network (:mod:`.dqn` trains it with torch) is exported to a small ``.npz`` file of weight matrices and
a JSON header, loaded with ``allow_pickle=False`` (a policy file cannot run code). Inference is a
two-hidden-layer MLP over at most :data:`~.features.MAX_CANDIDATES` rows: well under a millisecond per pick.

Ordering: the first ``min(free_slots, MAX_SEQUENTIAL)`` tasks are picked one at a time, each time with
the fleet's state updated as if the previous pick had started (free slots, DAG and owner shares), exactly
as the environment asks the agent during training; the rest follow by least slack. Above 8 ×
``MAX_CANDIDATES`` due tasks, only the first 2 × ``MAX_CANDIDATES`` of each shortlist order are
considered for the picks, so the work per decision is bounded whatever the queue length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from airflow_ai_scheduler.dispatch.base import Candidate, DispatchPolicy, FleetView, register_policy
from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.rl.features import (
    CANDIDATE_FEATURES,
    FLEET_FEATURES,
    MAX_CANDIDATES,
    _slack,
    featurize,
    shortlist,
)

MAX_SEQUENTIAL = 8
FORMAT = "airflow-ai-scheduler/dispatch-q/1"


def default_policy_path() -> Path:
    """The pre-trained policy shipped in the package (see rl/data/README.md for how it was trained)."""
    return Path(str(files("airflow_ai_scheduler.rl") / "data" / "dispatch_dqn.npz"))


class QFunction:
    """An MLP ``features → hidden → hidden → 1`` with ReLUs, from exported weights."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], meta: dict[str, Any]) -> None:
        self.layers = layers
        self.meta = meta

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = x.astype(np.float32, copy=False)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                np.maximum(h, 0.0, out=h)
        return h[..., 0]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays = {f"w{i}": w for i, (w, _) in enumerate(self.layers)} | {f"b{i}": b for i, (_, b) in enumerate(self.layers)}
        with path.open("wb") as fh:  # np.savez would append .npz to a name without it
            np.savez_compressed(fh, meta=np.array(json.dumps(self.meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> QFunction:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                n = len([k for k in z.files if k.startswith("w")])
                layers = [(z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)) for i in range(n)]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"dispatch_policy rl: {path} is not a dispatch policy file ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ConfigError(f"dispatch_policy rl: {path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        want = [*CANDIDATE_FEATURES, *FLEET_FEATURES]
        if meta.get("features") != want or not layers or layers[0][0].shape[0] != len(want):
            raise ConfigError(f"dispatch_policy rl: {path} was trained on other state features; retrain it "
                              f"('ai-scheduler rl train')")
        return cls(layers, meta)


class RLDispatchPolicy(DispatchPolicy):
    """Dispatch by a Q-function learned in the simulator. ``path``: a policy file (default: the shipped one)."""

    name = "rl"

    def __init__(self, path: str | None = None, q: QFunction | None = None) -> None:
        self.path = Path(path) if path else default_policy_path()
        self.q = q if q is not None else QFunction.load(self.path)

    def pick(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> int:
        """Index (in ``candidates``) of the task the agent runs next; ``candidates`` ≤ MAX_CANDIDATES."""
        return int(np.argmax(self.q(featurize(candidates, fleet, now))))

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        if len(candidates) <= 1:
            return list(candidates)
        by_slack = sorted(candidates, key=lambda c: (s if (s := _slack(c, now)) is not None else math.inf,
                                                     -c.waiting_seconds))
        pool = list(candidates)
        if len(pool) > 8 * MAX_CANDIDATES:
            pool = shortlist(pool, now, 2 * MAX_CANDIDATES * 4)
        picks: list[Candidate] = []
        view = fleet
        for _ in range(min(max(1, fleet.free_slots), MAX_SEQUENTIAL)):
            if not pool:
                break
            seen = shortlist(pool, now)
            best = seen[self.pick(seen, view, now)]
            picks.append(best)
            pool = [c for c in pool if c is not best]
            owner = best.owner or best.dag_id
            view = replace(view, free_slots=max(0, view.free_slots - 1),
                           running_by_dag={**view.running_by_dag, best.dag_id: view.running_by_dag.get(best.dag_id, 0) + 1},
                           running_by_owner={**view.running_by_owner, owner: view.running_by_owner.get(owner, 0) + 1})
        chosen = {id(c) for c in picks}
        return picks + [c for c in by_slack if id(c) not in chosen]


register_policy("rl", RLDispatchPolicy)
