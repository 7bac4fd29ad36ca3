"""Right-sizing: what a task asks for vs what it used, a recommended ``Resources`` hint, the money it saves.

Pure functions over history rows and offers (no Airflow, no database): the CLI
(``airflow ai-scheduler rightsize``), the UI and the planner (hint ``rightsize=True``) call them.

Measured need, over the task's last successful tries that were measured (at least :data:`MIN_TRIES`):

* **cores** = CPU seconds / seconds measured (the task's execute), per try; the p95 over tries.
* **memory** = peak resident memory of the task's process tree, per try; the p95 and the maximum.

Recommendation (each rounded up to a step, so tiny changes do not churn hints):

* vCPUs = ⌈1.2 × p95 cores⌉ to 0.5 — unless the p95 is ≥ 90 % of the request (the task is CPU-bound at
  its request: how much more it could use is unknown, so the request stays);
* memory = ⌈max(1.2 × p95, 1.05 × max)⌉ to 0.25 GiB (running out of memory kills a task; running out of
  CPU only slows it, hence the larger margin);
* GPUs and GPU type stay as requested; a GPU task that used no GPU memory in any measured try is noted.

A dimension changes only when the recommendation differs from the request by ≥ 20 % (and ≥ 0.5 vCPU or
0.25 GiB). The money: the cheapest offer (of the given offers, on the tier the task ran on most) that fits
the request vs the cheapest that fits the recommendation, per hour × the median runtime = per run, × the
runs of the last 30 days = per 30 days. The planner picks among fitting offers in the same way, so this is
the saving a plan would see. When one offer is the cheapest for both, the saving is 0 and says so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from airflow_ai_scheduler.models import Job, Offer, Resources
from airflow_ai_scheduler.planning.candidates import fit_problem

MIN_TRIES = 3
CPU_HEADROOM = 0.2
MEM_HEADROOM = 0.2
MEM_MAX_HEADROOM = 0.05
SATURATED = 0.9
CPU_STEP = 0.5
MEM_STEP = 0.25
MIN_CHANGE = 0.2
MIB_PER_GIB = 1024.0
BYTES_PER_GIB = 1024.0 ** 3

Verdict = Literal["over-requested", "under-requested", "mixed", "right-sized", "insufficient-data"]


def quantile(xs: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default); xs need not be sorted."""
    s = sorted(xs)
    if not s:
        raise ValueError("quantile of no values")
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _up(x: float, step: float) -> float:
    return max(step, math.ceil(x / step - 1e-9) * step)


class MeasuredProfile(BaseModel):
    """What a task used over its recent measured successful tries (the predicted resource profile)."""

    tries: int = Field(description="measured successful tries the numbers are over")
    runtime_seconds_p50: float | None = Field(None, description="median runtime (task instance start to end)")
    runtime_seconds_p95: float | None = None
    cpu_cores_p50: float | None = Field(None, description="median average busy cores while the task executed")
    cpu_cores_p95: float | None = None
    memory_gib_p50: float | None = Field(None, description="median peak resident memory, GiB")
    memory_gib_p95: float | None = None
    memory_gib_max: float | None = None
    gpu_memory_gib_p95: float | None = Field(None, description="None: GPU memory was not measurable")
    io_read_gib_p95: float | None = None
    io_write_gib_p95: float | None = None
    runs_last_30_days: int = Field(0, description="successful tries in the 30 days before now")


def profile(rows: Sequence[Mapping[str, Any]], now: datetime | None = None) -> MeasuredProfile:
    """The profile of a task from its history rows (successful ones are used; measured ones for usage)."""
    ok = [r for r in rows if r.get("outcome", "success") == "success"]
    measured = [r for r in ok if r.get("peak_memory_mib") is not None]
    runtimes = [float(r["runtime_seconds"]) for r in ok if r.get("runtime_seconds")]
    cores = [float(r["cpu_seconds"]) / float(r.get("usage_seconds") or r.get("runtime_seconds"))
             for r in measured if r.get("cpu_seconds") is not None and (r.get("usage_seconds") or r.get("runtime_seconds"))]
    mem = [float(r["peak_memory_mib"]) / MIB_PER_GIB for r in measured]
    gpu = [float(r["gpu_memory_mib"]) / MIB_PER_GIB for r in measured if r.get("gpu_memory_mib") is not None]
    io_r = [float(r["io_read_bytes"]) / BYTES_PER_GIB for r in measured if r.get("io_read_bytes") is not None]
    io_w = [float(r["io_write_bytes"]) / BYTES_PER_GIB for r in measured if r.get("io_write_bytes") is not None]
    recent = 0
    if now is not None:
        since = now - timedelta(days=30)
        recent = sum(1 for r in ok if (r.get("actual_start") or r.get("recorded_at") or now) >= since)

    def q(xs: list[float], p: float) -> float | None:
        return round(quantile(xs, p), 4) if xs else None

    return MeasuredProfile(
        tries=len(measured), runtime_seconds_p50=q(runtimes, 0.5), runtime_seconds_p95=q(runtimes, 0.95),
        cpu_cores_p50=q(cores, 0.5), cpu_cores_p95=q(cores, 0.95), memory_gib_p50=q(mem, 0.5),
        memory_gib_p95=q(mem, 0.95), memory_gib_max=round(max(mem), 4) if mem else None,
        gpu_memory_gib_p95=q(gpu, 0.95), io_read_gib_p95=q(io_r, 0.95), io_write_gib_p95=q(io_w, 0.95),
        runs_last_30_days=recent)


def recommend(requested: Resources, prof: MeasuredProfile) -> tuple[Resources, list[str]]:
    """The recommended resources and the reasons, one per dimension looked at."""
    reasons: list[str] = []
    if prof.tries < MIN_TRIES or prof.cpu_cores_p95 is None or prof.memory_gib_p95 is None:
        return requested, [f"only {prof.tries} measured successful tries (need {MIN_TRIES})"]
    vcpus = requested.vcpus
    if prof.cpu_cores_p95 >= SATURATED * requested.vcpus:
        reasons.append(f"CPU-bound at its request: p95 {prof.cpu_cores_p95:.2f} of {requested.vcpus:g} vCPUs busy; "
                       "kept (it may run faster with more if it is parallel)")
    else:
        want = _up(prof.cpu_cores_p95 * (1 + CPU_HEADROOM), CPU_STEP)
        if abs(want - vcpus) >= max(CPU_STEP, MIN_CHANGE * vcpus):
            reasons.append(f"vCPUs {vcpus:g} → {want:g}: p95 {prof.cpu_cores_p95:.2f} cores busy (+{CPU_HEADROOM:.0%})")
            vcpus = want
        else:
            reasons.append(f"vCPUs {vcpus:g} kept: p95 {prof.cpu_cores_p95:.2f} cores busy")
    mem_need = max(prof.memory_gib_p95 * (1 + MEM_HEADROOM), (prof.memory_gib_max or 0) * (1 + MEM_MAX_HEADROOM))
    want_mem = _up(mem_need, MEM_STEP)
    memory = requested.memory_gib
    if abs(want_mem - memory) >= max(MEM_STEP, MIN_CHANGE * memory):
        reasons.append(f"memory {memory:g} → {want_mem:g} GiB: peak p95 {prof.memory_gib_p95:.2f} GiB, "
                       f"max {prof.memory_gib_max:.2f} GiB")
        memory = want_mem
    else:
        reasons.append(f"memory {memory:g} GiB kept: peak p95 {prof.memory_gib_p95:.2f} GiB")
    if requested.gpus > 0 and prof.gpu_memory_gib_p95 is not None and prof.gpu_memory_gib_p95 == 0:
        reasons.append(f"asks for {requested.gpus} GPU(s) but used no GPU memory in {prof.tries} tries: "
                       "check whether it needs one (GPUs kept)")
    return requested.model_copy(update={"vcpus": vcpus, "memory_gib": memory}), reasons


def planning_resources(requested: Resources, prof: MeasuredProfile | None) -> Resources:
    """What the planner assumes for a task whose author opted in (hint ``rightsize=True``): the measured
    recommendation once there are enough tries, the request until then."""
    if prof is None:
        return requested
    return recommend(requested, prof)[0]


class Rightsizing(BaseModel):
    """One task's right-sizing (JSON-able: the UI shows it as is)."""

    dag_id: str
    task_id: str
    verdict: Verdict
    requested: Resources = Field(description="the task's hint (or the planner's default: 1 vCPU, 1 GiB)")
    hinted: bool = Field(description="the request comes from a resources hint")
    recommended: Resources
    measured: MeasuredProfile
    reasons: list[str] = Field(default_factory=list)
    tier: str | None = Field(None, description="the tier prices are compared on (the one it ran on most)")
    requested_offer: str | None = Field(None, description="cheapest offer fitting the request")
    recommended_offer: str | None = Field(None, description="cheapest offer fitting the recommendation")
    price_per_hour_requested: float | None = None
    price_per_hour_recommended: float | None = None
    saving_per_run_usd: float | None = Field(None, description="negative: the recommendation costs more")
    saving_per_30_days_usd: float | None = Field(None, description="per run × the runs of the last 30 days")


class RightsizeReport(BaseModel):
    dag_id: str | None
    generated_at: datetime
    tasks: list[Rightsizing]
    total_saving_per_30_days_usd: float


def _cheapest(res: Resources, offers: Sequence[Offer], tier: str | None, template: Job) -> Offer | None:
    job = template.model_copy(update={"resources": res})
    fits = [o for o in offers if (tier is None or o.tier == tier) and fit_problem(job, o) is None]
    return min(fits, key=lambda o: (o.price_per_hour, o.offer_id), default=None)


def _verdict(req: Resources, rec: Resources, prof: MeasuredProfile) -> Verdict:
    if prof.tries < MIN_TRIES:
        return "insufficient-data"
    down = rec.vcpus < req.vcpus or rec.memory_gib < req.memory_gib
    up = rec.vcpus > req.vcpus or rec.memory_gib > req.memory_gib
    return "mixed" if up and down else "over-requested" if down else "under-requested" if up else "right-sized"


def rightsize_task(dag_id: str, task_id: str, rows: Sequence[Mapping[str, Any]], requested: Resources | None,
                   offers: Sequence[Offer], *, now: datetime, template: Job | None = None) -> Rightsizing:
    """Right-size one task from its history rows; ``template`` carries its allow-lists (providers, regions,
    tiers) so only offers it may run on are priced."""
    hinted = requested is not None
    req = requested or Resources()
    prof = profile(rows, now)
    rec, reasons = recommend(req, prof)
    tiers = Counter(r.get("tier") for r in rows if r.get("tier"))
    tier = tiers.most_common(1)[0][0] if tiers else None
    tmpl = template or Job(job_id=task_id, estimated_duration_hours=1.0)
    out = Rightsizing(dag_id=dag_id, task_id=task_id, verdict=_verdict(req, rec, prof), requested=req, hinted=hinted,
                      recommended=rec, measured=prof, reasons=reasons, tier=tier)
    a, b = _cheapest(req, offers, tier, tmpl), _cheapest(rec, offers, tier, tmpl)
    if a is not None and b is not None and prof.runtime_seconds_p50:
        per_run = (a.price_per_hour - b.price_per_hour) * prof.runtime_seconds_p50 / 3600.0
        out = out.model_copy(update={
            "requested_offer": a.offer_id, "recommended_offer": b.offer_id,
            "price_per_hour_requested": a.price_per_hour, "price_per_hour_recommended": b.price_per_hour,
            "saving_per_run_usd": round(per_run, 8), "saving_per_30_days_usd": round(per_run * prof.runs_last_30_days, 6)})
        if a.offer_id == b.offer_id and rec != req:
            out.reasons.append(f"{a.offer_id} is the cheapest fit for both: no saving on these offers")
    elif b is None and offers:
        out.reasons.append("no offer fits the recommendation")
    return out


def rightsize_dag(dag_id: str, tasks: Mapping[str, tuple[Resources | None, Job | None]],
                  rows_by_task: Mapping[str, Sequence[Mapping[str, Any]]], offers: Sequence[Offer], *,
                  now: datetime) -> RightsizeReport:
    """Every task of ``tasks`` (task_id → (its resources hint or None, a Job carrying its allow-lists)),
    biggest saving first."""
    out = [rightsize_task(dag_id, t, rows_by_task.get(t, []), req, offers, now=now, template=tmpl)
           for t, (req, tmpl) in tasks.items()]
    out.sort(key=lambda r: (-(r.saving_per_30_days_usd or 0.0), r.task_id))
    return RightsizeReport(dag_id=dag_id, generated_at=now, tasks=out,
                           total_saving_per_30_days_usd=round(sum(r.saving_per_30_days_usd or 0.0 for r in out), 6))
