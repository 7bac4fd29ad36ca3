"""A Gymnasium environment over the dispatch simulator: one step = one dispatch decision.

**Episode**: one workload (:func:`~airflow_ai_scheduler.simulate.dispatch_workload.generate_workload`, or
any ``workload(seed)`` callable, e.g. templates from the history table) played to the end. Whenever a fleet
has a free slot and two or more due tasks, the agent chooses which starts; a lone due task starts without
asking.

**Observation** (``Dict``): ``candidates`` — ``[MAX_CANDIDATES, N_FEATURES]`` float32, one row per due task
of the deciding fleet (:mod:`.features`: runtime, slack to its deadline, priority, time waited, what it
unblocks, its DAG's and owner's share of the fleet, ranks among the due tasks, and the fleet's queue
length and work, utilisation, recent preemptions and failures, repeated on every row); ``mask`` — 1 for
the rows that hold a task. **Action**: ``Discrete(MAX_CANDIDATES)``, the row of the task to start (a
masked row is taken as row 0, with reward −1).

**Reward** between two decisions, all terms ≤ 0:

    − COMPLETION_WEIGHT × run-hours elapsed (Σ over unfinished runs of the time that passed: its sum over an
      episode is the total completion time of the runs)
    − MISS_WEIGHT × runs whose deadline passed unfinished in the interval
    − STARVATION_WEIGHT × tasks that crossed the starvation threshold (10 × runtime, ≥ 15 min) in it

so the return is −(0.1·Σ completion hours + 5·missed runs + 0.05·starved tasks): on the benchmark's
workloads a missed run costs as much as 50 run-hours of completion time or 100 starved tasks, so deadline
misses come first, then completion time, with starvation penalised. :func:`episode_score` computes the same number from a
finished simulation, so a heuristic policy is scored on the agent's own objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from airflow_ai_scheduler.rl.features import MAX_CANDIDATES, N_FEATURES, featurize, shortlist
from airflow_ai_scheduler.simulate.dispatch import DispatchSimulator, SimResult
from airflow_ai_scheduler.simulate.dispatch_workload import Workload, generate_workload

COMPLETION_WEIGHT, MISS_WEIGHT, STARVATION_WEIGHT = 0.1, 5.0, 0.05


def episode_score(r: SimResult) -> float:
    """The episode's return for a finished simulation (higher is better, ≤ 0)."""
    return -(COMPLETION_WEIGHT * r.run_hours + MISS_WEIGHT * r.deadline_misses + STARVATION_WEIGHT * r.starved)


class Decision:
    """The simulator paused at a choice: the fleet, its shortlisted due tasks and their features."""

    def __init__(self, sim: DispatchSimulator, fleet: str) -> None:
        now = sim.now_dt
        self.fleet = fleet
        self.view = sim.view(fleet)
        self.candidates = shortlist(sim.candidates(fleet), now)
        self.x = featurize(self.candidates, self.view, now)

    def observation(self) -> dict[str, np.ndarray]:
        obs = np.zeros((MAX_CANDIDATES, N_FEATURES), dtype=np.float32)
        mask = np.zeros(MAX_CANDIDATES, dtype=np.int8)
        obs[: len(self.x)] = self.x
        mask[: len(self.x)] = 1
        return {"candidates": obs, "mask": mask}


def advance(sim: DispatchSimulator) -> Decision | None:
    """Run to the next real choice (auto-starting lone due tasks); None when the workload is done."""
    while (fleet := sim.next_decision()) is not None:
        queue = sim.fleets[fleet].queue
        if len(queue) == 1:
            sim.launch(fleet, next(iter(queue)))
            continue
        return Decision(sim, fleet)
    return None


def _penalty(sim: DispatchSimulator) -> float:
    return COMPLETION_WEIGHT * sim.run_hours + MISS_WEIGHT * sim.misses + STARVATION_WEIGHT * len(sim.starved)


def make_env(seeds: Sequence[int] | None = None, workload: Callable[[int], Workload] = generate_workload) -> Any:
    """A :class:`DispatchEnv` (gymnasium is imported here: the ``[rl]`` extra)."""
    import gymnasium as gym
    from gymnasium import spaces

    class DispatchEnv(gym.Env):
        metadata: dict[str, Any] = {"render_modes": []}

        def __init__(self) -> None:
            self.observation_space = spaces.Dict({
                "candidates": spaces.Box(-10.0, 10.0, (MAX_CANDIDATES, N_FEATURES), np.float32),
                "mask": spaces.MultiBinary(MAX_CANDIDATES)})
            self.action_space = spaces.Discrete(MAX_CANDIDATES)
            self.seeds = list(seeds) if seeds is not None else None
            self.episode = 0
            self.sim: DispatchSimulator | None = None
            self.decision: Decision | None = None

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
            super().reset(seed=seed)
            if options and "workload_seed" in options:
                wseed = int(options["workload_seed"])
            elif self.seeds:
                wseed = self.seeds[self.episode % len(self.seeds)]
            else:
                wseed = int(self.np_random.integers(0, 2**31 - 1))
            self.episode += 1
            self.sim = DispatchSimulator(workload(wseed))
            self.decision = advance(self.sim)
            while self.decision is None:  # a workload with no choice at all: draw another
                wseed += 7919
                self.sim = DispatchSimulator(workload(wseed))
                self.decision = advance(self.sim)
            self.penalty = _penalty(self.sim)
            return self.decision.observation(), {"workload_seed": wseed, "fleet": self.decision.fleet}

        def step(self, action: int) -> tuple[dict, float, bool, bool, dict]:
            assert self.sim is not None and self.decision is not None, "call reset() first"
            bad = not 0 <= int(action) < len(self.decision.candidates)
            c = self.decision.candidates[0 if bad else int(action)]
            self.sim.launch(self.decision.fleet, c.key)  # type: ignore[arg-type]
            self.decision = advance(self.sim)
            penalty = _penalty(self.sim)
            reward = -(penalty - self.penalty) - (1.0 if bad else 0.0)
            self.penalty = penalty
            if self.decision is None:
                result = self.sim.result("agent")
                return ({"candidates": np.zeros((MAX_CANDIDATES, N_FEATURES), np.float32),
                         "mask": np.zeros(MAX_CANDIDATES, np.int8)}, reward, True, False,
                        {"result": result, "score": episode_score(result)})
            return self.decision.observation(), reward, False, False, {"fleet": self.decision.fleet}

    return DispatchEnv()
