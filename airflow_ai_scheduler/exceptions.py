"""Every error this package raises, in one small hierarchy.

Errors name what a user can act on: the DAG, the task (job) and the field, or the JSON path of the
bad value in a manifest or plan.
"""

from __future__ import annotations

from dataclasses import dataclass


class AiSchedulerError(Exception):
    """Base class of every error raised by airflow-ai-scheduler."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a JSON path such as ``$.jobs[2].resources.vcpus``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ManifestError(AiSchedulerError, ValueError):
    """A manifest (or plan file) is malformed. Carries one :class:`Problem` per issue found."""

    def __init__(self, problems: list[Problem], what: str = "manifest") -> None:
        self.problems = list(problems)
        self.what = what
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {what}: {len(self.problems)} problem(s)\n{lines}")


class InvalidHintError(AiSchedulerError, ValueError):
    """A DAG author's placement hint is malformed. Names the DAG, the task and the field."""

    def __init__(self, message: str, *, dag_id: str | None = None, task_id: str | None = None,
                 field: str | None = None) -> None:
        self.dag_id, self.task_id, self.field = dag_id, task_id, field
        where = ", ".join(
            f"{k} {v!r}" for k, v in (("DAG", dag_id), ("task", task_id), ("field", field)) if v
        )
        super().__init__(f"invalid ai_scheduler placement hint ({where}): {message}" if where else message)


class CatalogError(AiSchedulerError):
    """A price catalog could not be read, or a cloud's price response had an unexpected shape."""


class PlannerError(AiSchedulerError):
    """A planner failed for a reason other than infeasibility (bad configuration, solver crash, LLM error)."""


class InfeasiblePlanError(PlannerError):
    """No plan satisfies the hard constraints. ``reasons`` lists the constraints that cannot be met."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        lines = "\n".join(f"  - {r}" for r in self.reasons) or "  - (the solver proved infeasibility)"
        super().__init__(f"no feasible plan:\n{lines}")


class LatencySLAError(InfeasiblePlanError):
    """No offer a job fits is within its latency SLA (``maxLatencyMs`` to ``endpointRegion``)."""

    def __init__(self, job_id: str, endpoint: str, max_ms: float, best_ms: float | None,
                 best_location: str | None) -> None:
        self.job_id, self.endpoint, self.max_ms = job_id, endpoint, max_ms
        self.best_ms, self.best_location = best_ms, best_location
        best = (f"the closest region it fits is {best_location} at p95 {best_ms:g} ms" if best_ms is not None
                else "no region it fits has a known latency to it")
        super().__init__([f"job {job_id!r}: latency SLA cannot be met — maxLatencyMs {max_ms:g} to endpointRegion "
                          f"{endpoint}, but {best}"])


class LLMPlannerError(PlannerError):
    """The LLM call failed or returned something unusable; callers fall back to the solver."""


class ConfigError(AiSchedulerError, ValueError):
    """An ``[ai_scheduler]`` option (or fleet definition) is invalid. Names the option."""


class ForecastError(AiSchedulerError, ValueError):
    """A demand forecast cannot be made from what was given (bad grouping, horizon, method). Names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class BudgetError(AiSchedulerError, ValueError):
    """A budget definition is invalid (scope, period, amount, policy). Names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"budget {field}: {message}" if field else message)
