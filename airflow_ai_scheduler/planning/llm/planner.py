"""LLMPlanner: prompt → model → structured answer → validate → (repair with CP-SAT | fall back to CP-SAT).

The final plan always passes :func:`validate`: a usable answer is accepted as is when valid; otherwise its
valid placements are kept as fixed values and the rest given to CP-SAT as hints (then everything as hints,
then a plain CP-SAT plan). Whole-answer failures (timeout, HTTP error, invalid output, unknown or missing
jobs) fall back to CP-SAT at once. ``last_exchange`` records what happened, without secrets: the prompt is
redacted *before* it is sent, so the stored prompt is the text the model received and its hash matches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_ai_scheduler.exceptions import LLMPlannerError, PlannerError
from airflow_ai_scheduler.models import Manifest, Offer, Plan
from airflow_ai_scheduler.planning.base import Choice, Stopwatch, resolve_offers
from airflow_ai_scheduler.planning.candidates import fit_problem, latency_lookup
from airflow_ai_scheduler.planning.commitments import expand, variant_id
from airflow_ai_scheduler.planning.greedy import build_plan
from airflow_ai_scheduler.planning.llm.audit import (
    known_secrets,
    prompt_hash,
    redact,
    scrub,
    scrubbed,
    secrets_of,
)
from airflow_ai_scheduler.planning.llm.client import DEFAULT_MODEL, call_model, model_name, resolve_model
from airflow_ai_scheduler.planning.llm.prompt import build_prompt
from airflow_ai_scheduler.planning.llm.schema import (
    LLMExchange,
    LLMPlanAnswer,
    PlanningHistory,
    RepairSummary,
)
from airflow_ai_scheduler.planning.validate import validate

log = logging.getLogger(__name__)
START_TOLERANCE_H = 1 / 60  # a start moved by less than a minute counts as kept


class LLMPlanner:
    name = "llm"

    def __init__(self, model: Any = None, *, conn_id: str | None = None, timeout_seconds: float = 60,
                 retries: int = 2, backoff_seconds: float = 1.0, history: PlanningHistory | None = None,
                 job_docs: Mapping[str, str] | None = None, fallback_time_limit_seconds: float = 10,
                 top_k_offers: int = 5) -> None:
        self.model, self.conn_id = model, conn_id
        self.timeout, self.retries, self.backoff = timeout_seconds, retries, backoff_seconds
        self.history, self.job_docs = history, dict(job_docs or {})
        self.fallback_time_limit, self.top_k = fallback_time_limit_seconds, top_k_offers
        self.last_exchange: LLMExchange | None = None
        self._secrets: list[str] = known_secrets()
        self._why: dict[str, str] = {}

    def _model(self) -> Any:
        if self.conn_id:
            from airflow_ai_scheduler.planning.llm.connection import model_from_connection

            return model_from_connection(self.conn_id, self.model if isinstance(self.model, str) else None)
        return resolve_model(self.model)

    def prompt(self, manifest: Manifest, offers: list[Offer] | None = None) -> str:
        return build_prompt(manifest, resolve_offers(manifest, offers), self.history, job_docs=self.job_docs,
                            top_k=self.top_k)

    def plan(self, manifest: Manifest, offers: list[Offer] | None = None) -> Plan:
        watch = Stopwatch()
        offers = resolve_offers(manifest, offers)
        self._why = {}
        ex = LLMExchange(prompt_hash="", prompt="", model=model_name(self.model or self.conn_id or DEFAULT_MODEL))
        try:
            text = self.prompt(manifest, offers)
            self._sent(ex, text)  # stored as it would have gone, should the model not be built
            model = self._model()
            self._secrets = known_secrets(secrets_of(model))
            self._sent(ex, text)  # redacted of the connection's key too: what is sent, stored and hashed
            ex.model = model_name(model)
            res = call_model(model, ex.prompt, timeout_seconds=self.timeout, retries=self.retries,
                             backoff_seconds=self.backoff)
            ex.response_text, ex.response_json = res.response_text, res.answer.model_dump(by_alias=True)
            ex.latency_seconds, ex.attempts = res.latency_seconds, res.attempts
            ex.input_tokens, ex.output_tokens = res.input_tokens, res.output_tokens
            choices, unusable = interpret(manifest, offers, res.answer)
            self._why = {p.job_id: p.rationale.strip()[:200] for p in res.answer.placements if p.rationale.strip()}
        except LLMPlannerError as exc:
            return self._fallback(manifest, offers, ex, str(exc), watch)
        plan = build_plan(manifest, offers, choices, planner=self.name)
        violations = validate(manifest, plan, offers) if not unusable else ["offers"]
        if not violations:
            ex.outcome, ex.reason = "accepted", "valid as answered"
            ex.repair = RepairSummary(kept=sorted(choices))
            return self._done(plan, ex, "accepted", watch)
        return self._repair(manifest, offers, ex, choices, unusable, plan, watch)

    def _sent(self, ex: LLMExchange, text: str) -> None:
        ex.prompt = redact(text, self._secrets, keywords=False)
        ex.prompt_hash = prompt_hash(ex.prompt)

    def _repair(self, manifest: Manifest, offers: list[Offer], ex: LLMExchange, choices: dict[str, Choice],
                unusable: dict[str, str], plan: Plan, watch: Stopwatch) -> Plan:
        from airflow_ai_scheduler.planning.cpsat import CpSatPlanner

        violations = validate(manifest, plan, offers)
        bad_jobs = {v.job_id for v in violations if v.job_id is not None}
        global_bad = any(v.job_id is None for v in violations)
        # jobs whose answer was unusable show up as "missing" in the priced plan: name the real cause
        reasons = sorted({v.rule for v in violations if not (v.rule == "missing" and v.job_id in unusable)}
                         | {"unknown_offer" for why in unusable.values() if why.startswith("unknown")}
                         | {"offer_does_not_fit" for why in unusable.values() if not why.startswith("unknown")})
        timed = {p.job_id: Choice(variant_id(p.offer_id, p.commitment), manifest.hours(p.start_time))
                 for p in plan.placements}
        fixed = {} if global_bad else {j: c for j, c in timed.items() if j not in bad_jobs}
        hints = {j: c for j, c in timed.items() if j not in fixed}
        cpsat = CpSatPlanner(time_limit_seconds=self.fallback_time_limit)
        repaired: Plan | None = None
        attempts = [(fixed, hints)] + ([({}, timed)] if fixed else [])
        for attempt_fixed, attempt_hints in attempts:
            try:
                candidate = cpsat.plan(manifest, offers, fixed=attempt_fixed or None, hints=attempt_hints or None)
            except PlannerError as exc:
                log.info("CP-SAT repair with %d fixed placement(s) failed: %s", len(attempt_fixed), exc)
                continue
            if not validate(manifest, candidate, offers):
                repaired = candidate
                break
        if repaired is None:
            return self._fallback(manifest, offers, ex, f"repair failed ({', '.join(reasons)})", watch)
        ex.outcome, ex.reason = "repaired", "invalid placements: " + ", ".join(reasons)
        ex.repair = summarize(manifest, timed, repaired)
        return self._done(repaired, ex, "repaired", watch)

    def _fallback(self, manifest: Manifest, offers: list[Offer], ex: LLMExchange, reason: str,
                  watch: Stopwatch) -> Plan:
        from airflow_ai_scheduler.planning.cpsat import CpSatPlanner

        log.warning("LLM planner falls back to CP-SAT: %s", scrub(reason, self._secrets))
        ex.outcome, ex.reason = "fallback", reason
        plan = CpSatPlanner(time_limit_seconds=self.fallback_time_limit).plan(manifest, offers)
        return self._done(plan, ex, "fallback", watch)

    def _done(self, plan: Plan, ex: LLMExchange, status: str, watch: Stopwatch) -> Plan:
        self.last_exchange = scrubbed(ex, self._secrets)
        r = ex.repair
        notes = [f"llm {status}: {scrub(ex.reason, self._secrets)}", f"model {ex.model}, prompt {ex.prompt_hash[:12]}",
                 f"kept {len(r.kept)}, changed {len(r.changed)}, retimed {len(r.retimed)}, added {len(r.added)}"]
        # the model's own reason travels with each placement it chose and the plan kept
        keep = set(r.kept) | set(r.retimed)
        placements = [p.model_copy(update={"rationale": scrub(f"llm: {self._why[p.job_id]}; {p.rationale}",
                                                              self._secrets)})
                      if p.job_id in keep and p.job_id in self._why else p for p in plan.placements]
        return plan.model_copy(update={"planner": self.name, "status": status, "notes": notes + list(plan.notes),
                                       "placements": placements,
                                       "planning_seconds": watch.seconds})


def interpret(manifest: Manifest, offers: list[Offer], answer: LLMPlanAnswer) -> tuple[dict[str, Choice], dict[str, str]]:
    """(usable choices, job → why its placement is unusable). Raises LLMPlannerError when the answer as a
    whole cannot be used: unknown or duplicate jobIds, missing jobs, nothing usable."""
    jobs, by_offer = manifest.job_map, {o.offer_id: o for o in expand(manifest, offers)}
    latency = latency_lookup(manifest)
    seen = [p.job_id for p in answer.placements]
    unknown = sorted({j for j in seen if j not in jobs})
    dupes = sorted({j for j in seen if seen.count(j) > 1})
    missing = sorted(set(jobs) - set(seen))
    for what, ids in (("unknown jobIds", unknown), ("duplicate jobIds", dupes), ("missing jobs", missing)):
        if ids:
            raise LLMPlannerError(f"invalid answer: {what} {ids[:10]}")
    choices: dict[str, Choice] = {}
    unusable: dict[str, str] = {}
    for p in answer.placements:
        offer = by_offer.get(p.offer_id)
        if offer is None:
            unusable[p.job_id] = f"unknown offerId {p.offer_id!r}"
            continue
        if (why := fit_problem(jobs[p.job_id], offer, latency)) is not None:
            unusable[p.job_id] = f"offer {p.offer_id!r} does not fit: {why}"
            continue
        choices[p.job_id] = Choice(p.offer_id, _start_hours(manifest, p.start_time))
    if not choices:
        raise LLMPlannerError("invalid answer: no usable placement")
    return choices, unusable


def _start_hours(manifest: Manifest, start: str | None) -> float | None:
    if not start:
        return None
    try:
        t = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        return None  # an unreadable time is not worth a fallback: start when ready
    if t.tzinfo is None:
        return None
    return max(0.0, manifest.hours(t))


def summarize(manifest: Manifest, llm: Mapping[str, Choice], final: Plan) -> RepairSummary:
    kept, changed, retimed, added = [], [], [], []
    for p in final.placements:
        c = llm.get(p.job_id)
        if c is None:
            added.append(p.job_id)
        elif c.offer_id != p.offer_id:
            changed.append(p.job_id)
        elif abs((c.start_hours or 0.0) - manifest.hours(p.start_time)) < START_TOLERANCE_H:
            kept.append(p.job_id)
        else:
            retimed.append(p.job_id)
    return RepairSummary(kept=sorted(kept), changed=sorted(changed), retimed=sorted(retimed), added=sorted(added))
