"""Right-sizing from history rows: p95 of what was used vs what was asked for, priced on offers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import NOW, offer

from airflow_ai_scheduler.models import Job, Resources
from airflow_ai_scheduler.usage.rightsize import (
    MeasuredProfile,
    planning_resources,
    profile,
    quantile,
    recommend,
    rightsize_dag,
    rightsize_task,
)

OFFERS = [offer("big", price=0.8, vcpus=8, memory_gib=32), offer("mid", price=0.2, vcpus=2, memory_gib=8),
          offer("tiny", price=0.05, vcpus=1, memory_gib=2), offer("big-spot", "spot", 0.3, vcpus=8, memory_gib=32)]


def _rows(n=10, cpu=0.6, secs=600.0, mem_mib=900.0, **kw):
    return [dict(outcome="success", runtime_seconds=secs, usage_seconds=secs, cpu_seconds=cpu * secs,
                 peak_memory_mib=mem_mib + i, tier="on-demand", actual_start=NOW - timedelta(days=i), **kw)
            for i in range(n)]


def test_quantile_interpolates():
    assert quantile([1, 2, 3, 4, 5], 0.5) == 3
    assert quantile([10, 0], 0.95) == pytest.approx(9.5)


def test_over_requested_task_gets_a_smaller_hint_and_a_saving():
    r = rightsize_task("d", "t", _rows(), Resources(vcpus=8, memory_gib=32), OFFERS, now=NOW)
    assert r.verdict == "over-requested"
    assert r.recommended.vcpus == 1.0  # ⌈1.2 × 0.6⌉ to 0.5
    assert r.recommended.memory_gib == 1.25  # ⌈1.2 × 0.887 GiB⌉ to 0.25
    assert (r.requested_offer, r.recommended_offer) == ("big", "tiny")
    assert r.saving_per_run_usd == pytest.approx((0.8 - 0.05) * 600 / 3600)
    assert r.saving_per_30_days_usd == pytest.approx(r.saving_per_run_usd * 10)


def test_under_requested_default_is_raised():
    r = rightsize_task("d", "t", _rows(mem_mib=3000.0), None, OFFERS, now=NOW)
    assert r.verdict == "under-requested" and not r.hinted
    assert r.recommended.memory_gib >= 3.5
    assert r.saving_per_run_usd < 0  # the bigger box costs more: said as a negative saving


def test_cpu_bound_task_keeps_its_vcpus():
    rec, reasons = recommend(Resources(vcpus=2, memory_gib=8), profile(_rows(cpu=1.95)))
    assert rec.vcpus == 2 and any("CPU-bound" in r for r in reasons)


def test_insufficient_data_changes_nothing():
    r = rightsize_task("d", "t", _rows(n=2), Resources(vcpus=8, memory_gib=32), OFFERS, now=NOW)
    assert r.verdict == "insufficient-data" and r.recommended == r.requested


def test_priced_on_the_tier_it_ran_on_and_within_its_allow_lists():
    rows = [{**x, "tier": "spot"} for x in _rows()]
    r = rightsize_task("d", "t", rows, Resources(vcpus=8, memory_gib=32), OFFERS, now=NOW)
    assert r.tier == "spot" and r.recommended_offer == "big-spot" and r.saving_per_run_usd == 0
    assert any("cheapest fit for both" in x for x in r.reasons)
    only_big = Job(job_id="t", estimated_duration_hours=1, allowed_regions=["eu-west-1"])
    r2 = rightsize_task("d", "t", _rows(), Resources(vcpus=8, memory_gib=32), OFFERS, now=NOW, template=only_big)
    assert r2.recommended_offer is None and r2.saving_per_run_usd is None


def test_gpu_never_used_is_noted_not_removed():
    rows = [{**x, "gpu_memory_mib": 0.0} for x in _rows()]
    rec, reasons = recommend(Resources(vcpus=8, memory_gib=32, gpus=1), profile(rows))
    assert rec.gpus == 1 and any("no GPU memory" in r for r in reasons)


def test_planner_resources_only_with_enough_tries():
    req = Resources(vcpus=8, memory_gib=32)
    assert planning_resources(req, None) == req
    assert planning_resources(req, MeasuredProfile(tries=1)) == req
    assert planning_resources(req, profile(_rows())).vcpus == 1.0


def test_dag_report_sorted_by_saving_and_json_able():
    rep = rightsize_dag("d", {"small": (Resources(vcpus=2, memory_gib=8), None),
                              "huge": (Resources(vcpus=8, memory_gib=32), None)},
                        {"small": _rows(), "huge": _rows()}, OFFERS, now=NOW)
    assert [t.task_id for t in rep.tasks] == ["huge", "small"]
    assert rep.total_saving_per_30_days_usd == pytest.approx(sum(t.saving_per_30_days_usd for t in rep.tasks))
    assert type(rep).model_validate_json(rep.model_dump_json()) == rep
