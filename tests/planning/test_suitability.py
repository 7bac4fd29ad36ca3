"""The suitability ranking: runtime distribution per offer, risks, cost, one score."""

from __future__ import annotations

import random

import pytest
from factories import NOW, job, offer

from airflow_ai_scheduler.models import Resources
from airflow_ai_scheduler.planning.objective import miss_probability as normal_miss
from airflow_ai_scheduler.planning.suitability import TaskEvidence, rank_offers, rationale

OFFERS = [offer("od", "on-demand", 1.0), offer("spot", "spot", 0.3, lam=0.2),
          offer("small", "on-demand", 0.2, vcpus=2, memory_gib=4)]


def _evidence(n=40, sigma=0.3, seed=1, types=("type-od",), mem=1.0):
    rnd = random.Random(seed)
    return TaskEvidence(runtimes_hours=[rnd.lognormvariate(0, sigma) for _ in range(n)],
                        instance_types=[types[i % len(types)] for i in range(n)],
                        peak_memory_gib=[mem * rnd.uniform(0.9, 1.1) for _ in range(n)],
                        cpu_cores=[0.8] * n)


def test_without_history_matches_the_objective_on_demand():
    j = job("t", 1.0, deadline_h=1.15, duration_std_hours=0.1)
    s = rank_offers(j, OFFERS, now=NOW)
    od = next(o for o in s.offers if o.offer_id == "od")
    assert s.evidence == "hint" and od.expected_runtime_hours == pytest.approx(1.0, rel=1e-3)
    # a log-normal with the job's mean and σ vs the objective's normal: close at 1.5 σ
    assert od.p_miss == pytest.approx(normal_miss(0.15, 0.1), abs=0.03)
    assert od.p_interruption == 0 and od.expected_cost_usd == pytest.approx(1.0, rel=1e-3)


def test_ranked_best_first_with_scores_in_0_1():
    s = rank_offers(job("t", 1.0, deadline_h=3), OFFERS, _evidence(), now=NOW)
    assert [o.rank for o in s.offers] == [1, 2, 3]
    assert s.offers[0].score == 1.0 and all(0 < o.score <= 1 for o in s.offers)
    assert [o.omega for o in s.offers] == sorted(o.omega for o in s.offers)
    assert s.best.offer_id == "small"


def test_spot_adds_interruptions_rework_and_risk():
    s = rank_offers(job("t", 1.0, deadline_h=1.5), OFFERS, _evidence(sigma=0.1), now=NOW)
    od = next(o for o in s.offers if o.offer_id == "od")
    sp = next(o for o in s.offers if o.offer_id == "spot")
    assert sp.p_interruption == pytest.approx(1 - 2.718281828 ** -0.2, abs=0.02)
    assert sp.expected_runtime_hours > od.expected_runtime_hours
    assert sp.runtime_hours.p95 > od.runtime_hours.p95 and sp.p_miss > od.p_miss


def test_checkpointing_lowers_the_rework():
    ev = _evidence(sigma=0.1)
    plain = rank_offers(job("t", 1.0, deadline_h=1.3), [OFFERS[1]], ev, now=NOW).offers[0]
    ckpt = rank_offers(job("t", 1.0, deadline_h=1.3, is_checkpointable=True, checkpoint_interval_hours=0.1),
                       [OFFERS[1]], ev, now=NOW).offers[0]
    assert ckpt.expected_runtime_hours < plain.expected_runtime_hours and ckpt.p_miss < plain.p_miss


def test_heavy_tail_in_history_shows_in_p_miss():
    """Runtimes from history: a task that is sometimes 3x slower misses a deadline the mean would meet."""
    rnd = random.Random(3)
    runs = [rnd.uniform(0.9, 1.1) if i % 5 else 3.0 for i in range(50)]
    ev = TaskEvidence(runtimes_hours=runs, instance_types=["x"] * 50)
    od = rank_offers(job("t", 1.0, deadline_h=2.0), [OFFERS[0]], ev, now=NOW).offers[0]
    assert od.p_miss == pytest.approx(0.2, abs=0.05)


def test_speed_factor_from_history_per_instance_type():
    ev = TaskEvidence(runtimes_hours=[1.0] * 10 + [0.5] * 10, instance_types=["type-od"] * 10 + ["type-fast"] * 10)
    fast = offer("fast", "on-demand", 1.0)
    fast = fast.model_copy(update={"instance_type": "type-fast"})
    s = rank_offers(job("t", 1.0), [OFFERS[0], fast], ev, now=NOW)
    by = {o.offer_id: o for o in s.offers}
    assert by["fast"].speed_source == "history" and by["od"].speed_source == "history"
    assert by["fast"].runtime_hours.p50 == pytest.approx(by["od"].runtime_hours.p50 / 2, rel=0.05)
    assert s.best.offer_id == "fast"  # same price, half the time


def test_elastic_job_speeds_up_on_a_bigger_offer_without_history():
    s = rank_offers(job("t", 1.0, elastic=True, resources=Resources(vcpus=2)), OFFERS, now=NOW)
    od = next(o for o in s.offers if o.offer_id == "od")
    assert od.speed_source == "elastic" and od.speed_factor == pytest.approx(0.25)


def test_memory_headroom_and_p_oom_from_measured_peaks():
    s = rank_offers(job("t", 1.0), OFFERS, _evidence(mem=3.9), now=NOW)
    small = next(o for o in s.offers if o.offer_id == "small")
    assert s.profile.source == "measured" and small.p_oom > 0.2 and small.memory_headroom < 0.05
    od = next(o for o in s.offers if o.offer_id == "od")
    assert od.p_oom < 1e-6 and od.memory_headroom > 0.8


def test_unfit_offers_are_excluded_with_the_reason():
    s = rank_offers(job("t", 1.0, resources=Resources(vcpus=4)), OFFERS, now=NOW)
    assert "small" in s.excluded and "vCPUs" in s.excluded["small"]
    assert {o.offer_id for o in s.offers} == {"od", "spot"}


def test_top_and_rationale():
    s = rank_offers(job("t", 1.0, deadline_h=2), OFFERS, _evidence(), now=NOW, top=1)
    assert len(s.offers) == 1
    text = rationale(s, s.offers[0].offer_id)
    assert text.startswith("suitability 1.00 (#1 of 1; from history, n=40)")
    assert rationale(s, "nope") is None


def test_json_able():
    s = rank_offers(job("t", 1.0, deadline_h=2), OFFERS, _evidence(), now=NOW)
    assert type(s).model_validate_json(s.model_dump_json()) == s


def test_plan_rationale_says_where_the_chosen_offer_ranks():
    from factories import manifest

    from airflow_ai_scheduler.planning.greedy import GreedyPlanner
    from airflow_ai_scheduler.planning.suitability import annotate_plan

    m = manifest([job("a", 1.0, deadline_h=3), job("b[0]", 1.0)], OFFERS)
    plan = GreedyPlanner().plan(m)
    out = annotate_plan(plan, m, OFFERS, {"a": _evidence(), "b": _evidence()})
    for p in out.placements:
        assert "suitability " in p.rationale and p.rationale.startswith(plan.placement_map[p.job_id].rationale)
    assert annotate_plan(out, m, OFFERS, {"a": _evidence()}) == out  # said once
    assert annotate_plan(plan, m, OFFERS, {}) == plan


@pytest.mark.parametrize("ckpt", [None, 0.1])
@pytest.mark.parametrize("lam", [0.05, 0.5, 2.0])
def test_expected_runtime_on_spot_equals_the_objectives(lam, ckpt):
    """Without spread, the mixture's mean is the renewal formula every planner uses."""
    from airflow_ai_scheduler.planning.objective import expected_runtime

    j = job("t", 1.0, duration_std_hours=1e-6, is_checkpointable=ckpt is not None, checkpoint_interval_hours=ckpt)
    o = offer("s", "spot", 0.3, lam=lam)
    got = rank_offers(j, [o], now=NOW).offers[0].expected_runtime_hours
    assert got == pytest.approx(expected_runtime(j, o), rel=1e-3)


def test_runtime_distribution_matches_a_simulation_of_interruptions():
    """P(T > t) against a direct simulation of restarts (no checkpoint, λw = 1): within 0.02."""
    rnd = random.Random(5)
    lam, w, r = 1.0, 1.0, 0.05

    def simulate():
        t = 0.0
        while True:
            hit = rnd.expovariate(lam)
            if hit >= w:
                return t + w
            t += hit + r

    sims = [simulate() for _ in range(20000)]
    j = job("t", w, duration_std_hours=1e-6, restart_overhead_hours=r)
    for t in (1.2, 1.6, 2.5):
        j2 = j.model_copy(update={"deadline": NOW + __import__("datetime").timedelta(hours=t)})
        p = rank_offers(j2, [offer("s", "spot", 0.3, lam=lam)], now=NOW).offers[0].p_miss
        assert p == pytest.approx(sum(x > t for x in sims) / len(sims), abs=0.02), t
