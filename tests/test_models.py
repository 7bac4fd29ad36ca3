"""Manifest/plan parsing: camelCase JSON, one problem per bad field with its JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import NOW, job, manifest

from airflow_ai_scheduler.exceptions import ManifestError
from airflow_ai_scheduler.models import Manifest, Plan, find_cycle, load_manifest, topological_order

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "manifest.json"


def _base() -> dict:
    return {"now": "2026-11-23T06:00:00Z",
            "jobs": [{"jobId": "a", "estimatedDurationHours": 1},
                     {"jobId": "b", "estimatedDurationHours": 2, "dependencies": ["a"]}]}


def test_example_manifest_round_trips_in_camel_case():
    m = load_manifest(EXAMPLE.read_text())
    dumped = json.loads(m.model_dump_json())
    assert dumped["jobs"][0]["jobId"] == "extract"
    assert dumped["jobs"][0]["inputDataSizeGB"] == 20
    assert "estimatedDurationHours" in dumped["jobs"][1]
    assert load_manifest(dumped) == m


def test_every_problem_is_reported_with_its_path_and_job():
    data = _base()
    data["jobs"][0]["resources"] = {"vcpus": -1}
    data["jobs"][1]["estimatedDurationHours"] = "long"
    data["jobs"][1]["allowedTiers"] = ["cheap"]
    with pytest.raises(ManifestError) as err:
        load_manifest(data)
    paths = {p.path for p in err.value.problems}
    assert "$.jobs[0].resources.vcpus" in paths
    assert "$.jobs[1].estimatedDurationHours" in paths
    assert "$.jobs[1].allowedTiers[0]" in paths
    assert any("job 'a'" in p.message for p in err.value.problems)


def test_unknown_dependency_names_the_job():
    data = _base()
    data["jobs"][1]["dependencies"] = ["a", "ghost"]
    with pytest.raises(ManifestError) as err:
        load_manifest(data)
    (p,) = err.value.problems
    assert p.path == "$.jobs[1].dependencies[1]"
    assert "'b'" in p.message and "'ghost'" in p.message


def test_cycle_is_named():
    data = _base()
    data["jobs"][0]["dependencies"] = ["b"]
    with pytest.raises(ManifestError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        load_manifest(data)


def test_duplicate_ids_and_bad_json():
    data = _base()
    data["jobs"][1]["jobId"] = "a"
    data["jobs"][1]["dependencies"] = []
    with pytest.raises(ManifestError, match="duplicate jobId 'a'"):
        load_manifest(data)
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest("{nope")


def test_naive_now_is_rejected_and_times_normalised_to_utc():
    data = _base()
    data["now"] = "2026-11-23T06:00:00"
    with pytest.raises(ManifestError, match=r"\$\.now"):
        load_manifest(data)
    data["now"] = "2026-11-23T07:00:00+01:00"
    assert load_manifest(data).now == NOW


def test_cycle_finder_on_long_chain_is_iterative():
    deps = {str(i): [str(i - 1)] if i else [] for i in range(20000)}
    assert find_cycle(deps) is None
    deps["0"] = ["19999"]
    assert len(find_cycle(deps)) == 20000


def test_topological_order_puts_dependencies_first():
    m = manifest([job("c", deps=["b"]), job("b", deps=["a"]), job("a")])
    assert [j.job_id for j in topological_order(m.jobs)] == ["a", "b", "c"]


def test_schemas_export_camel_case():
    ms = Manifest.model_json_schema(by_alias=True)
    assert "jobs" in ms["properties"]
    assert "jobId" in ms["$defs"]["Job"]["properties"]
    ps = Plan.model_json_schema(by_alias=True)
    assert "lowerBound" in ps["properties"] and "planningSeconds" in ps["properties"]


def test_objective_fields_beyond_cost_are_in_the_schemas():
    ms = Manifest.model_json_schema(by_alias=True)
    for key in ("carbonBudgetKg", "carbonForecast", "delayCostPerHour", "commitments", "latency"):
        assert key in ms["properties"], key
    assert {"delayCostPerHour", "endpointRegion", "maxLatencyMs"} <= set(ms["$defs"]["Job"]["properties"])
    assert {"carbonIntensityGPerKwh", "powerWatts"} <= set(ms["$defs"]["Offer"]["properties"])
    assert "carbon" in ms["$defs"]["Weights"]["properties"]
    ps = Plan.model_json_schema(by_alias=True)
    assert "commitments" in ps["properties"]
    assert {"estimatedCo2eKg", "commitment"} <= set(ps["$defs"]["Placement"]["properties"])
    assert {"co2eKg", "delayCost"} <= set(ps["$defs"]["Objective"]["properties"])


@pytest.mark.parametrize(("patch", "path"), [
    pytest.param({"weights": {"carbon": -1}}, r"\$\.weights\.carbon", id="negative-w-carbon"),
    pytest.param({"carbonBudgetKg": -0.5}, r"\$\.carbonBudgetKg", id="negative-budget"),
    pytest.param({"delayCostPerHour": -1}, r"\$\.delayCostPerHour", id="negative-delay-cost"),
    pytest.param({"carbonForecast": [{"location": "aws", "from": "2026-11-23T06:00:00Z", "gCo2ePerKwh": 5}]},
                 r"\$\.carbonForecast\[0\]\.location", id="forecast-location"),
    pytest.param({"carbonForecast": [{"location": "aws:x", "from": "2026-11-23T06:00:00", "gCo2ePerKwh": 5}]},
                 r"\$\.carbonForecast\[0\]\.from", id="forecast-naive-time"),
    pytest.param({"latency": [{"from": "aws:a", "to": "aws:b", "p95Ms": 0}]}, r"\$\.latency\[0\]\.p95Ms",
                 id="latency-zero"),
])
def test_new_manifest_fields_are_validated_naming_the_field(patch, path):
    base = {"now": "2026-11-23T06:00:00Z", "jobs": [{"jobId": "a", "estimatedDurationHours": 1}]}
    with pytest.raises(ManifestError, match=path):
        load_manifest({**base, **patch})
    bad_job = {**base["jobs"][0], "delayCostPerHour": -2}
    with pytest.raises(ManifestError, match=r"\$\.jobs\[0\]\.delayCostPerHour: job 'a'"):
        load_manifest({**base, "jobs": [bad_job]})
