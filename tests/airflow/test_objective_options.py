"""[ai_scheduler] and DAG-param options of the objective beyond cost, through the manifest builder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import NOW, offer

from airflow_ai_scheduler.airflow.hints import placement
from airflow_ai_scheduler.airflow.manifest import RunInfo, TaskInfo, build_manifest, run_options
from airflow_ai_scheduler.airflow.objective_options import (
    apply_run_options,
    fleet_commitments,
    manifest_defaults,
    weights_with_carbon,
)
from airflow_ai_scheduler.config import CONFIG_DEFAULTS
from airflow_ai_scheduler.exceptions import ConfigError, InvalidHintError
from airflow_ai_scheduler.fleets.base import parse_fleets
from airflow_ai_scheduler.models import Weights


def _get(**over):
    return lambda k: over.get(k, CONFIG_DEFAULTS[k])


def test_defaults_give_waiting_a_price_and_leave_carbon_reported_only():
    d = manifest_defaults(_get())
    assert d == {"delay_cost_per_hour": 1.0}
    assert weights_with_carbon(Weights(), _get()).carbon == 0.0


def test_fleet_reservations_and_configured_commitments_become_manifest_commitments(tmp_path):
    fleets = parse_fleets([{"name": "od", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
                            "tier": "on-demand", "slots": 4, "reserved_instances": 2, "reserved_usd_per_hour": 0.12}])
    [c] = fleet_commitments(fleets)
    assert (c.commitment_id, c.kind, c.instances, c.offer_ids, c.amortized_usd_per_hour) == (
        "od-reserved", "reserved", 2, ["od"], 0.12)
    sp = '[{"commitmentId": "sp1", "kind": "savings_plan", "usdPerHour": 2, "discount": 0.28, "provider": "aws"}]'
    d = manifest_defaults(_get(commitments=sp, carbon_forecast_file=str(tmp_path / "f.csv")), fleets)
    assert [x.commitment_id for x in d["commitments"]] == ["od-reserved", "sp1"]
    assert d["carbon_forecast_file"] == str(tmp_path / "f.csv")


@pytest.mark.parametrize(("option", "value", "match"), [
    pytest.param("commitments", '[{"kind": "reserved"}]', "commitments is invalid", id="commitment"),
    pytest.param("commitments", "not json", "commitments is invalid", id="json"),
    pytest.param("delay_cost_per_hour", "-1", "delay_cost_per_hour", id="negative-delay"),
    pytest.param("delay_cost_per_hour", "abc", "delay_cost_per_hour", id="nan-delay"),
])
def test_bad_config_names_the_option(option, value, match):
    with pytest.raises(ConfigError, match=match):
        manifest_defaults(_get(**{option: value}))


def test_dag_params_override_and_bad_ones_are_ignored(caplog, tmp_path):
    fc = tmp_path / "fc.csv"
    fc.write_text("location,from,g_co2e_per_kwh\naws:us-east-1,2026-11-23T08:00:00+00:00,50\n")
    defaults = {"delay_cost_per_hour": 1.0, "carbon_forecast_file": str(fc)}
    fields, w = apply_run_options(defaults, Weights(), {"ai_scheduler_delay_cost_per_hour": "3",
                                                        "ai_scheduler_carbon_weight": 0.2,
                                                        "ai_scheduler_carbon_budget_kg": "bad"}, where="DAG d: ")
    assert fields["delay_cost_per_hour"] == 3.0 and w.carbon == 0.2 and "carbon_budget_kg" not in fields
    assert fields["carbon_forecast"][0]["gCo2ePerKwh"] == 50.0
    assert "DAG d: ignoring param ai_scheduler_carbon_budget_kg='bad'" in caplog.text
    fc.write_text("nonsense\n")
    fields, _ = apply_run_options(defaults, Weights(), {})
    assert "carbon_forecast" not in fields and "planning with the bundled intensities" in caplog.text


def test_manifest_builder_passes_hints_params_and_defaults_through():
    tasks = [TaskInfo("api", executor_config=placement(max_latency_ms=40, endpoint_region="aws:eu-west-2",
                                                       delay_cost_per_hour=4)),
             TaskInfo("batch", upstream_task_ids=["api"])]
    run = RunInfo(dag_id="d", run_id="r", run_start=NOW, tasks=tasks,
                  options=run_options({"ai_scheduler_carbon_budget_kg": 2.5}, {"ai_scheduler_delay_cost_per_hour": 0}))
    m = build_manifest(run, now=NOW, offers=[offer("od")], defaults={"delay_cost_per_hour": 1.0})
    api, batch = m.job_map["api"], m.job_map["batch"]
    assert (api.max_latency_ms, api.endpoint_region, api.delay_cost_per_hour) == (40, "aws:eu-west-2", 4)
    assert batch.delay_cost_per_hour is None
    assert m.delay_cost_per_hour == 0.0  # the run's conf wins over the default
    assert m.carbon_budget_kg == 2.5


def test_sla_hint_needs_both_fields_and_errors_name_dag_task_field():
    from airflow_ai_scheduler.airflow.hints import parse_hint

    with pytest.raises(InvalidHintError, match="DAG 'd', task 't', field 'endpoint_region'.*go together"):
        parse_hint(placement(max_latency_ms=40), dag_id="d", task_id="t")
    with pytest.raises(InvalidHintError, match="field 'delay_cost_per_hour'"):
        parse_hint(placement(delay_cost_per_hour=-1, deadline=timedelta(hours=1)), dag_id="d", task_id="t")


def test_history_row_counts_co2_at_the_placements_rate_and_segments_add_up():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from airflow_ai_scheduler.airflow.recording import build_try
    from airflow_ai_scheduler.history.store import merge_segment
    from airflow_ai_scheduler.models import Placement

    t0 = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    placed = Placement(job_id="t", offer_id="od", provider="aws", region="us-east-1", instance_type="m6i.xlarge",
                       tier="on-demand", start_time=t0, expected_end_time=t0 + timedelta(hours=2), estimated_cost=0.4,
                       estimated_co2e_kg=0.1)  # 0.05 kg per hour
    launch = {"start": t0, "end": t0 + timedelta(minutes=30), "fleet": "od", "price": 0.2}
    row = build_try(key, launch, {"state": "success", "start": t0, "end": t0 + timedelta(minutes=30)}, placed, None)
    assert row["co2e_kg"] == pytest.approx(0.025)
    assert build_try(key, launch, {"state": "success"}, None, None)["co2e_kg"] is None  # no plan: not guessed
    merged = merge_segment({**row, "actual_start": t0, "runtime_seconds": 1800.0, "actual_cost": 0.1}, row)
    assert merged["co2e_kg"] == pytest.approx(0.05)


def test_default_fleets_under_a_burst_use_idle_on_demand_with_the_default_delay_cost():
    """Issue 19 item 8's burst: every task queued for the 4-slot spot fleet while on-demand sat idle."""
    from airflow_ai_scheduler.fleets.base import DEFAULT_FLEETS, fleet_offers
    from airflow_ai_scheduler.models import Job, Manifest
    from airflow_ai_scheduler.planning.greedy import GreedyPlanner

    offers = fleet_offers(parse_fleets(DEFAULT_FLEETS))
    jobs = [Job(job_id=f"run{r}.t{i}", estimated_duration_hours=0.1) for r in range(15) for i in range(3)]
    fields, weights = apply_run_options(manifest_defaults(_get()), Weights(), {})
    burst = Manifest(now=NOW, jobs=jobs, offers=offers, weights=weights, **fields)
    free = burst.model_copy(update={"delay_cost_per_hour": 0.0})
    tiers = lambda m: {p.tier for p in GreedyPlanner().plan(m).placements}  # noqa: E731
    assert tiers(free) == {"spot"}
    assert tiers(burst) == {"spot", "on-demand"}
