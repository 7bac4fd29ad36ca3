"""Carbon: the bundled region table and power model, kg CO2e in the objective, w_carbon, forecasts, budgets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import NOW, job, manifest, offer

from airflow_ai_scheduler.catalog.carbon import (
    FALLBACK_INTENSITY,
    MEMORY_WATTS_PER_GIB,
    instance_watts,
    load_forecast,
    region_carbon,
    watts_per_vcpu,
)
from airflow_ai_scheduler.exceptions import CatalogError
from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.objective import Scorer
from airflow_ai_scheduler.planning.validate import validate


@pytest.mark.parametrize(("provider", "region", "g", "source"), [
    pytest.param("aws", "eu-north-1", 8, "table", id="aws-stockholm"),
    pytest.param("aws", "us-east-1", 379.069, "table", id="aws-virginia-nerc-serc"),
    pytest.param("gcp", "europe-west4", 410, "table", id="gcp-netherlands"),
    pytest.param("azure", "westeurope", 390, "table", id="azure-netherlands"),
    pytest.param("aws", "mars-1", 387.38, "provider average", id="unknown-region"),
    pytest.param("onprem", "dc1", FALLBACK_INTENSITY, "fallback", id="unknown-provider"),
])
def test_region_intensity(provider, region, g, source):
    rc = region_carbon(provider, region)
    assert rc.g_co2e_per_kwh == pytest.approx(g)
    assert rc.source == source
    assert 1.0 < rc.pue < 1.3


def test_power_model_follows_the_family_processor_and_gpus():
    # Graviton2 (CCF 0.47-1.69 W) draws less per vCPU than Cascade Lake/Skylake (0.64-4.26 W)
    assert watts_per_vcpu("aws", "m6g.xlarge") == pytest.approx(0.47 + 0.5 * (1.69 - 0.47))
    assert watts_per_vcpu("aws", "m5.xlarge") > watts_per_vcpu("aws", "m6g.xlarge")
    assert watts_per_vcpu("aws", "x9z.large") == pytest.approx(0.74 + 0.5 * (3.5 - 0.74))  # AWS average
    base = instance_watts("aws", "p4d.24xlarge", 96, 1152)
    with_gpus = instance_watts("aws", "p4d.24xlarge", 96, 1152, gpus=8, gpu_type="A100")
    assert with_gpus - base == pytest.approx(8 * (46 + 0.5 * (407 - 46)))
    assert instance_watts("aws", "m6g.xlarge", 4, 16) == pytest.approx(4 * watts_per_vcpu("aws", "m6g.xlarge")
                                                                       + 16 * MEMORY_WATTS_PER_GIB)


def test_job_co2_is_energy_times_pue_times_intensity():
    o = offer("o", region="eu-north-1", vcpus=4, memory_gib=16)
    j = job("a", 2.0)
    s = Scorer(manifest([j], [o]), [o]).score(j, o, 0.0, {})
    rc = region_carbon("aws", "eu-north-1")
    kw = instance_watts("aws", o.instance_type, 4, 16) * rc.pue / 1000
    assert s.co2e_kg == pytest.approx(kw * 2.0 * rc.g_co2e_per_kwh / 1000)


def test_offer_may_state_its_power_and_intensity():
    o = offer("o").model_copy(update={"power_watts": 1000.0, "carbon_intensity_g_per_kwh": 100.0})
    j = job("a", 3.0)
    s = Scorer(manifest([j], [o]), [o]).score(j, o, 0.0, {})
    assert s.co2e_kg == pytest.approx(1.0 * region_carbon("aws", "us-east-1").pue * 3.0 * 100 / 1000)


def _two_regions():
    # same machine, same price: Virginia's grid (SERC) is ~47x Stockholm's
    return [offer("dirty", price=0.30, region="us-east-1"), offer("clean", price=0.31, region="eu-north-1")]


def test_w_carbon_moves_work_to_a_cleaner_region_when_it_pays():
    offers = _two_regions()
    jobs = [job(f"j{i}", 4.0) for i in range(3)]
    cheap = GreedyPlanner().plan(manifest(jobs, offers))
    green = GreedyPlanner().plan(manifest(jobs, offers, weights=Weights(carbon=1.0)))
    assert {p.offer_id for p in cheap.placements} == {"dirty"}
    assert {p.offer_id for p in green.placements} == {"clean"}
    assert green.objective.co2e_kg < cheap.objective.co2e_kg / 10
    assert green.objective.cost > cheap.objective.cost
    for plan in (cheap, green):
        assert sum(p.estimated_co2e_kg for p in plan.placements) == pytest.approx(plan.objective.co2e_kg, abs=1e-5)


def test_forecast_makes_greedy_wait_for_a_greener_hour_and_cpsat_agrees():
    o = offer("o", region="us-east-1")
    fc = [{"location": "aws:us-east-1", "from": (NOW + timedelta(hours=3)).isoformat(), "gCo2ePerKwh": 20.0}]
    m = manifest([job("a", 1.0, deadline_h=12)], [o], weights=Weights(carbon=50.0), carbon_forecast=fc)
    for plan in (GreedyPlanner().plan(m), CpSatPlanner(time_limit_seconds=5).plan(m)):
        p = plan.placements[0]
        assert (p.start_time - NOW) >= timedelta(hours=3) - timedelta(minutes=1)
        assert validate(m, plan, [o]) == []
    # without a carbon weight the forecast only changes what is reported: start at once
    m0 = m.model_copy(update={"weights": Weights()})
    assert GreedyPlanner().plan(m0).placements[0].start_time == NOW


def test_carbon_budget_is_a_validator_rule_and_cpsat_respects_it():
    offers = _two_regions()
    jobs = [job(f"j{i}", 2.0) for i in range(2)]
    m = manifest(jobs, offers, carbon_budget_kg=0.01)
    greedy = GreedyPlanner().plan(m)
    assert [v.rule for v in validate(m, greedy, offers)] == ["carbon_budget"]
    plan = CpSatPlanner(time_limit_seconds=5).plan(m)
    assert validate(m, plan, offers) == []
    assert plan.objective.co2e_kg <= 0.01
    assert {p.offer_id for p in plan.placements} == {"clean"}


def test_stated_co2_must_match_the_objective():
    offers = _two_regions()
    m = manifest([job("a", 1.0)], offers)
    plan = GreedyPlanner().plan(m)
    p = plan.placements[0].model_copy(update={"estimated_co2e_kg": 5.0})
    bad = plan.model_copy(update={"placements": [p]})
    assert [v.rule for v in validate(m, bad, offers)] == ["inconsistent"]


def test_load_forecast_csv(tmp_path):
    f = tmp_path / "fc.csv"
    f.write_text("location,from,g_co2e_per_kwh\naws:us-east-1,2026-11-23T08:00:00+00:00,120.5\n")
    assert load_forecast(f) == [{"location": "aws:us-east-1", "from": "2026-11-23T08:00:00+00:00", "gCo2ePerKwh": 120.5}]
    f.write_text("location,from,g_co2e_per_kwh\naws:us-east-1,2026-11-23T08:00:00,120.5\n")
    with pytest.raises(CatalogError, match=r"fc.csv:2: 'from' needs a timezone"):
        load_forecast(f)
    f.write_text("where,when\n")
    with pytest.raises(CatalogError, match="missing column"):
        load_forecast(f)
