"""Suitability of each offer for one task: a predicted runtime distribution, the risks, the cost, one score.

Pure (no Airflow): :func:`rank_offers` is a function of (job, offers, history evidence). The CLI
(``airflow ai-scheduler rank``), the resource API's ``get_optimal_instance``, the LLM prompt and the plan
rationale call it. docs/suitability.md writes the model down for users.

**Runtime distribution on offer o.** History gives the task's recent successful runtimes dᵢ and where each
ran. An instance type with ≥ :data:`MIN_SPEED_SAMPLES` tries has a *speed factor* fₖ = median runtime on
k / median runtime overall; samples are brought to a common base bᵢ = dᵢ / f(kind of i) and scaled to the
offer, wᵢ = bᵢ · f(o) (f(o) = 1 when the offer's type was not seen; 1 / speed-up for an elastic job on a
bigger offer). Each wᵢ is smoothed with a log-normal kernel (bandwidth h by Silverman's rule on log bᵢ), so
the tail beyond the largest sample is not zero (below :data:`FEW_SAMPLES` tries, a Student-t on log bᵢ, the
predictive of a log-normal with unknown mean and σ, instead); on an offer scaled by a measured speed factor the kernel is
widened by that factor's own error, h² + π/2 · var(log b) · (1/nₖ + 1/n) (the variance of a ratio of two
sample medians). With fewer than :data:`MIN_SAMPLES` tries, the job's
duration and σ (hint or default 10 %) give one log-normal kernel with that mean and σ instead.

**Spot interruptions** (rate λ): the work runs in m = wᵢ / c segments (c = the checkpoint interval, or wᵢ
when the job cannot checkpoint); an attempt at a segment is interrupted with p = 1 − e^{−λc}, so the number
of interruptions is negative binomial(m, p) (none with probability e^{−λwᵢ}), and each costs the restart
overhead r plus the progress lost, the first interruption time given it falls within [0, c]. One
interruption is exact; two or more are one log-normal above wᵢ + 2r with the sum's mean and variance. The
mean is the objective's renewal formula exactly (:mod:`.runtime_mixture`).

From the mixture: quantiles (p10/p50/p90/p95), the mean E[T], **P(miss)** = P(start + T > deadline),
**E[tardiness]** = E[(start + T − deadline)⁺] (closed forms for each kernel), **P(interruption)** =
mean of 1 − e^{−λwᵢ}. **P(OOM)** = P(peak memory > the offer's memory), the same log-normal smoothing over
the measured peaks. **Headroom** = 1 − need / capacity for vCPUs and memory, need = the measured p95 when
known, else the request. **Expected cost** = the offer's price integrated over E[T] from the start, plus
egress (objective.Scorer, as every planner prices it).

**Score.** Ω of the job on the offer, as the objective weighs it: w_cost·cost + w_tardiness·π·E[tardiness]
+ w_risk·π·(1 − (1 − P(miss))(1 − P(int))(1 − P(OOM))); suitability = Ω_best / Ω ∈ (0, 1], 1 for the best
offer. Offers the job does not fit (resources, allow-lists) are left out with the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any, Literal

from pydantic import BaseModel, Field

from airflow_ai_scheduler.models import Job, Manifest, Offer, Plan, Weights
from airflow_ai_scheduler.planning.candidates import fit_problem
from airflow_ai_scheduler.planning.objective import (
    DEFAULT_DURATION_CV,
    Scorer,
    priority_factor,
    restart_overhead,
    segment_hours,
    speedup,
)
from airflow_ai_scheduler.planning.runtime_mixture import (
    Kernel,
    bandwidth,
    mixture,
    p95,
    quantile,
    smooth_survival,
    student_t_scales,
    survival,
)

MIN_SAMPLES = 3
MIN_SPEED_SAMPLES = 3
#: below this many tries, a Student-t on log runtimes instead of smoothing the samples
FEW_SAMPLES = 10


@dataclass(frozen=True)
class TaskEvidence:
    """What history knows of one task, as plain data (newest first); built by the caller from history rows."""

    runtimes_hours: list[float] = field(default_factory=list)
    instance_types: list[str | None] = field(default_factory=list)  # where each runtime was measured
    peak_memory_gib: list[float] = field(default_factory=list)
    cpu_cores: list[float] = field(default_factory=list)
    gpu_memory_gib: list[float] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> TaskEvidence:
        ok = [r for r in rows if r.get("outcome", "success") == "success" and (r.get("runtime_seconds") or 0) > 0]
        mem = [r for r in ok if r.get("peak_memory_mib") is not None]
        return cls(
            runtimes_hours=[float(r["runtime_seconds"]) / 3600.0 for r in ok],
            instance_types=[r.get("instance_type") for r in ok],
            peak_memory_gib=[float(r["peak_memory_mib"]) / 1024.0 for r in mem],
            cpu_cores=[float(r["cpu_seconds"]) / float(r.get("usage_seconds") or r["runtime_seconds"])
                       for r in mem if r.get("cpu_seconds") is not None],
            gpu_memory_gib=[float(r["gpu_memory_mib"]) / 1024.0 for r in mem if r.get("gpu_memory_mib") is not None],
        )

    def speed_factors(self) -> dict[str, float]:
        """Instance type → its median runtime over the overall median (< 1: faster), for well-sampled types."""
        if len(self.runtimes_hours) < MIN_SAMPLES:
            return {}
        overall = median(self.runtimes_hours)
        by: dict[str, list[float]] = {}
        for d, k in zip(self.runtimes_hours, self.instance_types, strict=False):
            if k:
                by.setdefault(k, []).append(d)
        if len(by) < 2 or overall <= 0:
            return {}  # one type only: nothing to compare
        return {k: median(v) / overall for k, v in by.items() if len(v) >= MIN_SPEED_SAMPLES}

    def type_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.instance_types:
            if k:
                out[k] = out.get(k, 0) + 1
        return out


class RuntimeQuantiles(BaseModel):
    p10: float
    p50: float
    p90: float
    p95: float


class ResourceProfile(BaseModel):
    """The task's predicted needs: the measured p95s when history has them, else its request."""

    cpu_cores: float
    memory_gib: float
    gpu_memory_gib: float | None = None
    source: Literal["measured", "requested"]


class OfferSuitability(BaseModel):
    rank: int
    offer_id: str
    provider: str
    region: str
    instance_type: str
    tier: str
    price_per_hour: float
    speed_factor: float = Field(description="runtime multiplier on this offer (< 1: faster)")
    speed_source: Literal["history", "elastic", "assumed"]
    runtime_hours: RuntimeQuantiles = Field(description="predicted runtime quantiles, spot rework included")
    expected_runtime_hours: float
    p_miss: float = Field(description="P(the job ends after its deadline), starting at start_hours")
    p_interruption: float = Field(description="P(at least one spot interruption during the run)")
    p_oom: float = Field(description="P(the measured peak memory exceeds the offer's memory)")
    cpu_headroom: float = Field(description="1 − needed vCPUs / offered vCPUs")
    memory_headroom: float = Field(description="1 − needed memory / offered memory")
    expected_cost_usd: float
    expected_tardiness_hours: float
    omega: float = Field(description="the job's objective on this offer (lower is better)")
    score: float = Field(description="suitability: best Ω / this Ω, in (0, 1]; 1 = the best offer")


class Suitability(BaseModel):
    job_id: str
    evidence: Literal["history", "hint"] = Field(description="where the runtime distribution comes from")
    samples: int
    start_hours: float
    deadline_hours: float | None
    profile: ResourceProfile
    offers: list[OfferSuitability]
    excluded: dict[str, str] = Field(default_factory=dict, description="offers the job does not fit, and why "
                                     "(at most 20)")

    @property
    def best(self) -> OfferSuitability | None:
        return self.offers[0] if self.offers else None


def _log_var(xs: Sequence[float]) -> float:
    logs = [math.log(x) for x in xs]
    mu = sum(logs) / len(logs)
    return sum((v - mu) ** 2 for v in logs) / max(1, len(logs) - 1)


def _prior(job: Job, f: float) -> tuple[float, float]:
    """(median, σ of log) of the log-normal with the job's mean and σ scaled by ``f`` (no history)."""
    d = job.estimated_duration_hours * f
    sd = job.duration_std_hours * f if job.duration_std_hours is not None else DEFAULT_DURATION_CV * d
    s2 = math.log1p((sd / d) ** 2)
    return math.exp(math.log(d) - s2 / 2), max(math.sqrt(s2), 1e-6)


# -- ranking ----------------------------------------------------------------------------------------------

def rank_offers(job: Job, offers: Sequence[Offer], evidence: TaskEvidence | None = None, *, now: datetime,
                start_hours: float = 0.0, weights: Weights | None = None, top: int | None = None) -> Suitability:
    """Rank ``offers`` for ``job`` (best first); ``top`` keeps the best few (quantiles are computed only for
    those). ``now`` anchors the job's deadline and the offers' price schedules; ``start_hours`` is when the
    job would start, in hours after ``now``."""
    weights = weights or Weights()
    solo = job.model_copy(update={"dependencies": []})
    manifest = Manifest(now=now, jobs=[solo], weights=weights)
    scorer = Scorer(manifest, list(offers))
    deadline = manifest.hours(job.deadline) if job.deadline is not None else None
    ev = evidence or TaskEvidence()
    history = len(ev.runtimes_hours) >= MIN_SAMPLES
    factors = ev.speed_factors() if history else {}
    base = []
    if history:
        for d, k in zip(ev.runtimes_hours, ev.instance_types, strict=False):
            base.append(d / factors.get(k or "", 1.0))
    h = bandwidth(base) if history else 0.0
    # a speed factor is a ratio of two sample medians: its error (var ≈ π/2 · σ² / n of each median) widens
    # the kernels of offers scaled by it, or the prediction is over-confident where the spread is small
    s2 = _log_var(base) if history else 0.0
    counts = ev.type_counts()
    measured = len(ev.peak_memory_gib) >= MIN_SAMPLES
    prof = ResourceProfile(
        cpu_cores=round(p95(ev.cpu_cores), 3) if measured and ev.cpu_cores else job.resources.vcpus,
        memory_gib=round(p95(ev.peak_memory_gib), 3) if measured else job.resources.memory_gib,
        gpu_memory_gib=round(p95(ev.gpu_memory_gib), 3) if measured and ev.gpu_memory_gib else None,
        source="measured" if measured else "requested")
    pf = priority_factor(job)
    rows: list[tuple[float, Offer, dict[str, Any], list[Kernel]]] = []
    excluded: dict[str, str] = {}
    for o in offers:
        why = fit_problem(job, o)
        if why is not None:
            if len(excluded) < 20:
                excluded[o.offer_id] = why
            continue
        if o.instance_type in factors:
            f, src = factors[o.instance_type], "history"
        elif speedup(job, o) > 1.0:
            f, src = 1.0 / speedup(job, o), "elastic"
        else:
            f, src = 1.0, "assumed"
        if history:
            extra = math.pi / 2 * s2 * (1 / counts[o.instance_type] + 1 / len(base)) if src == "history" else 0.0
            if len(base) < FEW_SAMPLES:  # too few to smooth: the Student-t predictive of a log-normal
                centre = math.exp(sum(math.log(b) for b in base) / len(base)) * f
                scale2 = s2 * (1 + 1 / len(base))
                t = student_t_scales(len(base) - 1)
                work, bw = [centre] * len(t), [math.sqrt(scale2 * k * k + extra) for k in t]
            else:
                work, bw = [b * f for b in base], math.sqrt(h * h + extra)
        else:
            med, bw = _prior(job, f)
            work = [med]
        lam = o.interruption_rate_per_hour if o.tier == "spot" else 0.0
        seg = min(segment_hours(job), job.estimated_duration_hours) if job.is_checkpointable else None
        ks = mixture(work, bw, lam, restart_overhead(job), seg)
        mean = sum(k.w * k.mean() for k in ks)
        p_int = sum(-math.expm1(-lam * w) for w in work) / len(work)
        if deadline is None:
            p_miss = tard = 0.0
        else:
            slack = deadline - start_hours
            p_miss = min(1.0, max(0.0, survival(ks, slack)))
            tard = sum(k.w * k.excess(slack) for k in ks)
        p_oom = smooth_survival(ev.peak_memory_gib, o.memory_gib) if measured else 0.0
        compute = scorer.curve(o).integral(start_hours, start_hours + mean)
        egress, _ = scorer.egress(solo, o, {})
        cost = compute + egress
        risk = 1 - (1 - p_miss) * (1 - p_int) * (1 - p_oom)
        omega = weights.cost * cost + weights.tardiness * pf * tard + weights.risk * pf * risk
        facts = dict(speed_factor=round(f, 4), speed_source=src, expected_runtime_hours=mean, p_miss=p_miss,
                     p_interruption=p_int, p_oom=p_oom, cpu_headroom=1 - prof.cpu_cores / o.vcpus,
                     memory_headroom=1 - prof.memory_gib / o.memory_gib, expected_cost_usd=cost,
                     expected_tardiness_hours=tard, omega=omega)
        rows.append((omega, o, facts, ks))
    rows.sort(key=lambda r: (r[0], r[1].offer_id))
    best = max(rows[0][0], 1e-12) if rows else 1.0
    out = []
    for i, (omega, o, facts, ks) in enumerate(rows[:top] if top else rows):
        hi = max(k.mean() for k in ks) * 4
        qs = RuntimeQuantiles(**{f"p{int(q * 100)}": round(quantile(ks, q, hi), 6) for q in (0.1, 0.5, 0.9, 0.95)})
        rounded = {k: round(v, 6) if isinstance(v, float) else v for k, v in facts.items()}
        out.append(OfferSuitability(rank=i + 1, offer_id=o.offer_id, provider=o.provider, region=o.region,
                                    instance_type=o.instance_type, tier=o.tier, price_per_hour=o.price_per_hour,
                                    runtime_hours=qs, score=round(best / max(omega, 1e-12), 6), **rounded))
    return Suitability(job_id=job.job_id, evidence="history" if history else "hint",
                       samples=len(ev.runtimes_hours), start_hours=start_hours, deadline_hours=deadline,
                       profile=prof, offers=out, excluded=excluded)


def miss_probability(job: Job, offer: Offer, evidence: TaskEvidence | None, *, now: datetime,
                     start_hours: float = 0.0) -> float:
    """P(miss) of ``job`` on ``offer`` alone (the calibration benchmark's prediction)."""
    r = rank_offers(job, [offer], evidence, now=now, start_hours=start_hours, top=1)
    return r.offers[0].p_miss if r.offers else 1.0


def rationale(s: Suitability, offer_id: str) -> str | None:
    """One sentence for a plan's rationale: where the chosen offer ranks and why (None: not ranked)."""
    mine = next((o for o in s.offers if o.offer_id == offer_id), None)
    if mine is None:
        return None
    return (f"suitability {mine.score:.2f} (#{mine.rank} of {len(s.offers)}; from {s.evidence}, n={s.samples}): "
            f"p95 {mine.runtime_hours.p95 * 3600:.0f} s, P(miss) {mine.p_miss:.0%}, "
            f"P(interruption) {mine.p_interruption:.0%}, memory headroom {mine.memory_headroom:.0%}")


def task_of(job_id: str) -> str:
    """``train[3]`` (a mapped instance) → ``train``."""
    return job_id.rsplit("[", 1)[0] if job_id.endswith("]") else job_id


def annotate_plan(plan: Plan, manifest: Manifest, offers: Sequence[Offer], evidence: Mapping[str, TaskEvidence],
                  max_jobs: int = 500) -> Plan:
    """The plan with each placement's rationale extended by where its offer ranks for the job (jobs whose
    task has history only; at most ``max_jobs``; ranked among the job's candidate offers)."""
    from airflow_ai_scheduler.planning.candidates import CandidateIndex

    jobs, by_id = manifest.job_map, {o.offer_id: o for o in offers}
    cands = CandidateIndex(manifest, list(offers))
    out, n = [], 0
    for p in plan.placements:
        job, ev = jobs.get(p.job_id), evidence.get(task_of(p.job_id))
        if job is None or ev is None or len(ev.runtimes_hours) < MIN_SAMPLES or n >= max_jobs or "suitability " in p.rationale:
            out.append(p)
            continue
        n += 1
        pool = cands.for_job(job)
        if p.offer_id in by_id and all(o.offer_id != p.offer_id for o in pool):
            pool = [*pool, by_id[p.offer_id]]
        s = rank_offers(job, pool, ev, now=manifest.now, start_hours=max(0.0, manifest.hours(p.start_time)),
                        weights=manifest.weights)
        text = rationale(s, p.offer_id)
        out.append(p.model_copy(update={"rationale": f"{p.rationale}; {text}" if p.rationale else text}) if text else p)
    return plan.model_copy(update={"placements": out})


def prompt_lines(manifest: Manifest, offers: Sequence[Offer], history: Any, top: int = 3, max_tasks: int = 100
                 ) -> list[str]:
    """The LLM prompt's suitability section: per task with measured history, its top offers (empty list when
    no task has history). ``history`` is a PlanningHistory with ``evidence`` (task_id → TaskEvidence)."""
    evidence: Mapping[str, TaskEvidence] = getattr(history, "evidence", None) or {}
    from airflow_ai_scheduler.models import topological_order
    from airflow_ai_scheduler.planning.candidates import CandidateIndex

    cands = CandidateIndex(manifest, list(offers))
    lines, seen = [], set()
    for job in topological_order(manifest.jobs):
        task = task_of(job.job_id)
        ev = evidence.get(task)
        if task in seen or ev is None or len(ev.runtimes_hours) < MIN_SAMPLES or len(seen) >= max_tasks:
            continue
        seen.add(task)
        s = rank_offers(job, cands.for_job(job), ev, now=manifest.now, weights=manifest.weights, top=top)
        cells = [f"{json.dumps(o.offer_id)} {o.score:.2f} p50 {o.runtime_hours.p50:.3g}h p95 {o.runtime_hours.p95:.3g}h "
                 f"P(miss) {o.p_miss:.0%} P(int) {o.p_interruption:.0%} mem {s.profile.memory_gib:.2g}/{o.memory_headroom:.0%} free"
                 for o in s.offers]
        lines.append(f"  {json.dumps(task)} (n={s.samples}): " + " | ".join(cells))
    if not lines:
        return []
    return ["", f"# Suitability from measured history (top {top} offers per task started now; score 1 = best, "
                "from the runtime distribution of its recent tries)", *lines]
