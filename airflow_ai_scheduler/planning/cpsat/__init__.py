"""The exact planner: OR-Tools CP-SAT over a time-indexed model, with a valid lower bound on Ω.

* :mod:`.planner` — :class:`CpSatPlanner`: warm starts, solve within the time limit, exact re-pricing.
* :mod:`.relaxation` — the location relaxation: the reported ``lowerBound`` and the labelling that seeds
  the co-located warm start.
* :mod:`.model` — the CP-SAT formulation (``_Model``): alternatives, intervals, precedence, capacity,
  prices, deadlines, risk, egress; the warm-start hint.
* :mod:`.regions` — region moves: data-connected groups of jobs relabelled to other locations' pools,
  priced by greedy, for the warm start and the model's alternatives.
* :mod:`.capacity_bound` — the capacity LP, a second valid bound where pools are limited (and a finer
  per-pool one for offline use).
* :mod:`.lns` — our large-neighbourhood search around the model (window, level, pool, data) for large
  models.
* :mod:`.diagnose` — readable reasons when the model is infeasible.
"""

from airflow_ai_scheduler.planning.cpsat.diagnose import diagnose
from airflow_ai_scheduler.planning.cpsat.model import SCALE, TOP_K, TOP_K_ABOVE_JOBS, _Alt, _Model
from airflow_ai_scheduler.planning.cpsat.planner import CpSatPlanner
from airflow_ai_scheduler.planning.cpsat.relaxation import Relaxation, job_floors, relax

__all__ = ["SCALE", "TOP_K", "TOP_K_ABOVE_JOBS", "CpSatPlanner", "Relaxation", "_Alt", "_Model", "diagnose",
           "job_floors", "relax"]
