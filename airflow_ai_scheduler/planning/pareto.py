"""The Pareto front over cost × tardiness × risk (× carbon): plans none of which is worse on every criterion.

Weights turn several criteria into one Ω; which weights are right is the user's call. :func:`pareto_front`
plans the manifest under a sweep of weights (``w_cost`` = 1; ``w_tardiness``, ``w_risk`` and, with
``carbon``, ``w_carbon`` over :data:`SWEEP`), scores every plan on the raw criteria — expected USD,
priority-weighted hours late, priority-weighted risk, kg CO2e — and keeps the non-dominated ones, so a user
picks a trade-off from a table instead of guessing weights. A weight sweep finds the *supported* points of
the front (those some weighting makes optimal); with greedy, which is a heuristic, a point may also be
missed where greedy misses the weighted optimum. Pure (no Airflow): the CLI's ``plan --pareto`` and the UI's
what-if call it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_ai_scheduler.models import Manifest, Objective, Offer, Plan, Weights

#: weights tried per criterion (w_cost is 1): tardiness and risk per priority-weighted hour / probability,
#: carbon in USD per kg CO2e (0.05-0.2 brackets the social cost of carbon; 1-5 is "carbon first")
SWEEP: Mapping[str, Sequence[float]] = {
    "tardiness": (0.1, 1.0, 10.0, 100.0),
    "risk": (0.1, 1.0, 10.0),
    "carbon": (0.0, 0.05, 0.2, 1.0, 5.0),
}
CRITERIA = ("cost", "tardiness", "risk", "co2e_kg")
#: relative tolerance under which two criteria values count as equal
TOLERANCE = 1e-6


@dataclass(frozen=True)
class ParetoPoint:
    weights: Weights
    objective: Objective
    plan: Plan

    def criteria(self, carbon: bool = True) -> tuple[float, ...]:
        o = self.objective
        return (o.cost, o.tardiness, o.risk, o.co2e_kg) if carbon else (o.cost, o.tardiness, o.risk)

    def as_row(self) -> dict[str, Any]:
        o, w = self.objective, self.weights
        return {"w_cost": w.cost, "w_tardiness": w.tardiness, "w_risk": w.risk, "w_carbon": w.carbon,
                "cost_usd": o.cost, "tardiness_h": o.tardiness, "risk": o.risk, "co2e_kg": o.co2e_kg,
                "planner": self.plan.planner}


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is no worse than b on every criterion and better on one (minimisation, relative tolerance)."""
    def le(x: float, y: float) -> bool:
        return x <= y + TOLERANCE * max(1.0, abs(y))

    return all(le(x, y) for x, y in zip(a, b, strict=True)) and any(not le(y, x) for x, y in zip(a, b, strict=True))


def non_dominated(points: Sequence[ParetoPoint], carbon: bool = True) -> list[ParetoPoint]:
    """The points no other point dominates; of points with equal criteria the first is kept. Sorted by cost."""
    out: list[ParetoPoint] = []
    for p in points:
        c = p.criteria(carbon)
        if any(dominates(q.criteria(carbon), c) for q in points):
            continue
        if any(all(abs(x - y) <= TOLERANCE * max(1.0, abs(y)) for x, y in zip(q.criteria(carbon), c, strict=True))
               for q in out):
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.criteria(carbon))


def pareto_front(manifest: Manifest, offers: list[Offer] | None = None, *, planner: str = "greedy",
                 carbon: bool = True, sweep: Mapping[str, Sequence[float]] | None = None,
                 **planner_kwargs: Any) -> list[ParetoPoint]:
    """Plan under every weighting of ``sweep`` (default :data:`SWEEP`; without ``carbon`` the carbon weight
    stays the manifest's) and return the non-dominated plans, cheapest first. Every plan is validated;
    invalid ones (e.g. over a hard deadline) are left out."""
    from airflow_ai_scheduler.exceptions import InfeasiblePlanError
    from airflow_ai_scheduler.planning.base import resolve_offers, run_planner

    offers = resolve_offers(manifest, offers)
    sweep = dict(sweep or SWEEP)
    if not carbon:
        sweep["carbon"] = (manifest.weights.carbon,)
    points = []
    for t, r, c in itertools.product(sweep["tardiness"], sweep["risk"], sweep["carbon"]):
        weights = manifest.weights.model_copy(update={"cost": 1.0, "tardiness": t, "risk": r, "carbon": c})
        try:
            plan = run_planner(planner, manifest.model_copy(update={"weights": weights}), offers,
                               **planner_kwargs).plan
        except InfeasiblePlanError:
            continue
        if plan.is_valid:
            points.append(ParetoPoint(weights, plan.objective, plan))
    return non_dominated(points, carbon)


def plot_front(points: Sequence[ParetoPoint], path: str, title: str = "Pareto front") -> None:
    """Cost against kg CO2e, coloured by tardiness + risk (needs the ``plot`` extra: matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the extra
        from airflow_ai_scheduler.exceptions import PlannerError

        raise PlannerError("plotting needs matplotlib: pip install 'airflow-ai-scheduler[plot]'") from exc
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p.objective.cost for p in points]
    ys = [p.objective.co2e_kg for p in points]
    cs = [p.objective.tardiness + p.objective.risk for p in points]
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis_r", s=60, edgecolors="black", linewidths=0.5)
    fig.colorbar(sc, ax=ax, label="tardiness (h) + risk (priority-weighted)")
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        ax.annotate(str(i + 1), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("expected cost (USD)")
    ax.set_ylabel("expected emissions (kg CO2e)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
