"""``ai-scheduler plan | validate | schema`` as a user runs them: output, files written, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_ai_scheduler.cli.main import main

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "manifest.json"


def _manifest(tmp_path: Path, **changes) -> Path:
    m = json.loads(EXAMPLE.read_text())
    m.update(changes)
    f = tmp_path / "m.json"
    f.write_text(json.dumps(m))
    return f


def test_plan_prints_a_table_writes_json_and_validates(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", str(EXAMPLE), "--planner", "greedy", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    for job in ("extract", "transform", "train", "report"):
        assert job in text
    plan = json.loads(out.read_text())
    assert {p["jobId"] for p in plan["placements"]} == {"extract", "transform", "train", "report"}
    assert plan["violations"] == [] and plan["objective"]["total"] > 0
    assert main(["validate", str(EXAMPLE), str(out)]) == 0
    assert "valid: 4 placements" in capsys.readouterr().out


def test_validate_reports_a_tampered_plan(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", str(EXAMPLE), "--output", str(out)]) == 0
    plan = json.loads(out.read_text())
    by_job = {p["jobId"]: p for p in plan["placements"]}
    by_job["report"]["startTime"] = by_job["extract"]["startTime"]  # before its dependency ends
    out.write_text(json.dumps(plan))
    capsys.readouterr()
    assert main(["validate", str(EXAMPLE), str(out)]) == 2
    captured = capsys.readouterr()
    assert "report" in captured.out and "invalid" in captured.err


def test_bad_manifest_names_the_json_path(tmp_path, capsys):
    m = json.loads(EXAMPLE.read_text())
    m["jobs"][1]["estimatedDurationHours"] = -1
    m["jobs"][2]["dependencies"] = ["nowhere"]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(m))
    assert main(["plan", str(f)]) == 2
    err = capsys.readouterr().err
    assert "jobs[1].estimatedDurationHours" in err or "jobs.1.estimatedDurationHours" in err


def test_a_cycle_is_named(tmp_path, capsys):
    m = json.loads(EXAMPLE.read_text())
    m["jobs"][0]["dependencies"] = ["report"]
    f = tmp_path / "cycle.json"
    f.write_text(json.dumps(m))
    assert main(["plan", str(f)]) == 2
    err = capsys.readouterr().err
    assert "cycle" in err and "extract" in err and "report" in err


def test_an_impossible_hard_deadline_exits_3(tmp_path, capsys):
    m = json.loads(EXAMPLE.read_text())
    m["jobs"][3]["deadline"] = "2026-11-23T07:00:00Z"  # 9 h of work before it: cannot be met
    f = tmp_path / "late.json"
    f.write_text(json.dumps(m))
    assert main(["plan", str(f), "--planner", "optimal", "--time-limit", "5"]) == 3
    assert "report" in capsys.readouterr().err


def test_schema_is_camel_case_json_schema(capsys):
    assert main(["schema", "manifest"]) == 0
    schema = json.loads(capsys.readouterr().out)
    job = schema["$defs"]["Job"]["properties"]
    assert {"jobId", "estimatedDurationHours", "isCheckpointable", "hardDeadline"} <= set(job)
    assert main(["schema", "plan"]) == 0
    assert "placements" in json.loads(capsys.readouterr().out)["properties"]


def test_llm_dry_run_prints_the_prompt_and_calls_nothing(capsys, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert main(["plan", str(EXAMPLE), "--planner", "llm", "--dry-run"]) == 0
    prompt = capsys.readouterr().out
    assert '"train"' in prompt and "# History" in prompt


@pytest.mark.parametrize("model", ["test", "google:gemini-2.5-flash"])
def test_llm_plan_is_valid_and_its_exchange_written(tmp_path, capsys, monkeypatch, model):
    """pydantic-ai's TestModel invents job ids, and without a key Gemini cannot be reached: both fall back
    to CP-SAT, and the audit record says why."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    ex_file, out = tmp_path / "exchange.json", tmp_path / "plan.json"
    assert main(["plan", str(EXAMPLE), "--planner", "llm", "--model", model, "--time-limit", "5",
                 "--exchange", str(ex_file), "--output", str(out)]) == 0
    ex = json.loads(ex_file.read_text())
    assert ex["outcome"] == "fallback" and ex["reason"] and len(ex["promptHash"]) == 64
    assert '"train"' in ex["prompt"]
    assert "llm: model" in capsys.readouterr().err
    plan = json.loads(out.read_text())
    assert plan["status"] == "fallback" and plan["violations"] == []


def test_plan_reports_emissions_and_takes_a_carbon_forecast(tmp_path, capsys):
    fc = tmp_path / "fc.csv"
    fc.write_text("location,from,g_co2e_per_kwh\naws:us-east-1,2020-01-01T00:00:00+00:00,0\n"
                  "gcp:us-central1,2020-01-01T00:00:00+00:00,0\n")
    assert main(["plan", str(EXAMPLE), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["objective"]["co2eKg"] > 0 and all(p["estimatedCo2eKg"] is not None for p in plan["placements"])
    assert main(["plan", str(EXAMPLE)]) == 0
    assert "kg CO2e" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n")
    assert main(["plan", str(EXAMPLE), "--carbon-forecast", str(bad)]) == 2
    assert "missing column" in capsys.readouterr().err


def test_plan_pareto_prints_the_front_and_plots_it(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png, out = tmp_path / "front.png", tmp_path / "front.json"
    offers = [{"offerId": oid, "provider": "aws", "region": region, "instanceType": "m5.2xlarge", "vcpus": 8,
               "memoryGib": 32, "gpus": 1, "gpuType": "V100", "tier": tier, "pricePerHour": price,
               "interruptionRatePerHour": lam}
              for oid, region, tier, price, lam in (("dirty", "us-east-1", "on-demand", 3.0, 0),
                                                    ("clean", "eu-north-1", "on-demand", 3.3, 0),
                                                    ("spot", "us-east-1", "spot", 1.0, 0.2))]
    small = _manifest(tmp_path, offers=offers)
    assert main(["plan", str(small), "--pareto", "--pareto-plot", str(png), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "non-dominated plan(s)" in text and "kg CO2e" in text
    rows = json.loads(out.read_text())
    assert rows and {"cost_usd", "co2e_kg", "w_carbon"} <= set(rows[0])
    assert [r["cost_usd"] for r in rows] == sorted(r["cost_usd"] for r in rows)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_table_numbers_keep_two_significant_digits_where_decimals_read_zero():
    from airflow_ai_scheduler.cli.plan import _num

    assert [_num(v, 3) for v in (0, 1.07e-5, 0.0004, 0.0006, 2.5)] == ["0.000", "1.1e-5", "4.0e-4", "0.001", "2.500"]
