"""Latency SLAs: the bundled p95 table, the manifest's measured overrides, candidate filtering, named errors."""

from __future__ import annotations

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.catalog.latency import LatencyTable, bundled_latency, known_locations
from airflow_ai_scheduler.exceptions import LatencySLAError, ManifestError
from airflow_ai_scheduler.models import LatencyPair, load_manifest
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.validate import validate


def test_bundled_table_is_symmetric_complete_and_grows_with_distance():
    table = bundled_latency()
    locs = sorted(known_locations())
    assert all((a, b) in table and table[a, b] == table[b, a] for a in locs for b in locs if a != b)
    t = LatencyTable()
    assert t.p95_ms("aws:us-east-1", "aws:us-east-1") == 3.0
    assert t.p95_ms("aws:us-east-1", "gcp:us-east4") == 3.0  # both in Ashburn
    assert t.p95_ms("aws:us-east-1", "aws:us-east-2") < t.p95_ms("aws:us-east-1", "aws:us-west-2") \
        < t.p95_ms("aws:us-east-1", "aws:eu-west-1") < t.p95_ms("aws:us-east-1", "aws:ap-northeast-1")
    assert t.p95_ms("aws:us-east-1", "nowhere:x") is None
    assert LatencyTable([("aws:us-east-1", "nowhere:x", 12.0)]).p95_ms("nowhere:x", "aws:us-east-1") == 12.0


def _offers():
    return [offer("virginia", price=0.30, region="us-east-1"), offer("ireland", price=0.50, region="eu-west-1")]


@pytest.mark.parametrize("planner", [GreedyPlanner(), CpSatPlanner(time_limit_seconds=3)], ids=["greedy", "cpsat"])
def test_sla_keeps_a_task_near_its_endpoint(planner):
    offers = _offers()
    m = manifest([job("api", 1.0, endpoint_region="aws:eu-west-2", max_latency_ms=40), job("batch", 1.0)], offers)
    plan = planner.plan(m)
    where = {p.job_id: p.offer_id for p in plan.placements}
    assert where == {"api": "ireland", "batch": "virginia"}
    assert validate(m, plan, offers) == []


@pytest.mark.parametrize("planner", [GreedyPlanner(), CpSatPlanner(time_limit_seconds=3)], ids=["greedy", "cpsat"])
def test_unmeetable_sla_is_a_named_error(planner):
    m = manifest([job("api", 1.0, endpoint_region="aws:ap-northeast-1", max_latency_ms=30)], _offers())
    with pytest.raises(LatencySLAError) as err:
        planner.plan(m)
    e = err.value
    assert (e.job_id, e.endpoint, e.max_ms, e.best_location) == ("api", "aws:ap-northeast-1", 30, "aws:us-east-1")
    assert "job 'api': latency SLA cannot be met" in str(e) and "maxLatencyMs 30" in str(e)


def test_measured_latency_overrides_the_table_and_the_validator_names_the_rule():
    offers = _offers()
    j = job("api", 1.0, endpoint_region="aws:eu-west-2", max_latency_ms=40)
    m = manifest([j], offers, latency=[LatencyPair(from_="aws:us-east-1", to="aws:eu-west-2", p95_ms=35.0)])
    assert GreedyPlanner().plan(m).placements[0].offer_id == "virginia"  # cheaper, and now within the SLA
    plan = GreedyPlanner().plan(m)
    strict = m.model_copy(update={"latency": []})
    assert [v.rule for v in validate(strict, plan, offers)] == ["latency"]


def test_sla_fields_go_together_and_name_the_field():
    base = {"now": "2026-11-23T06:00:00Z"}
    with pytest.raises(ManifestError, match=r"\$\.jobs\[0\]: job 'a': .*maxLatencyMs and endpointRegion go together"):
        load_manifest({**base, "jobs": [{"jobId": "a", "estimatedDurationHours": 1, "maxLatencyMs": 20}]})
    with pytest.raises(ManifestError, match=r"\$\.jobs\[0\]\.endpointRegion"):
        load_manifest({**base, "jobs": [{"jobId": "a", "estimatedDurationHours": 1, "maxLatencyMs": 20,
                                         "endpointRegion": "eu-west-2"}]})
