"""``ai-scheduler simulate``: the table's numbers add up, the plot is written, bad input exits 2."""

from __future__ import annotations

import json

import pytest

from airflow_ai_scheduler.cli.main import main


def test_json_numbers_are_consistent(capsys, tmp_path):
    png = tmp_path / "c.png"
    rc = main(["simulate", "--work-hours", "10", "--deadline-hours", "14", "--overhead", "0.05",
               "--trace", "us-east-1a_v100_1", "--starts", "3", "--plot", str(png), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    job, pol = out["job"], out["policies"]
    assert set(pol) >= {"on_demand", "spot_only", "greedy", "uniform_progress"}
    od = pol["on_demand"]
    assert od["cost"] == pytest.approx(job["odCost"]) and od["spot_hours"] == 0 and od["misses"] == 0
    for name, r in pol.items():
        assert r["runs"] == 3
        score = 100 * (job["odCost"] - r["cost"]) / (job["odCost"] - job["spotCost"])
        assert r["score"] == pytest.approx(score)
        if name != "spot_only":
            assert r["misses"] == 0 and r["spot_hours"] + r["od_hours"] >= 10
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_table_and_bad_policy(capsys):
    assert main(["simulate", "--work-hours", "4", "--deadline-hours", "6", "--trace", "us-east-1a_v100_1",
                 "--starts", "2", "--policies", "on_demand,greedy"]) == 0
    text = capsys.readouterr().out
    assert "on_demand" in text and "greedy" in text and "score" in text
    assert main(["simulate", "--policies", "nope"]) == 2
    assert "unknown policy" in capsys.readouterr().err


def test_manifest_mode(capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "manifest.json"
    assert main(["simulate", "--manifest", str(example), "--trace", "us-east-1a_v100_1", "--starts", "2",
                 "--policies", "on_demand,safe_uniform_progress", "--json"]) == 0
    pol = json.loads(capsys.readouterr().out)["policies"]
    assert pol["on_demand"]["spot_hours"] == 0 and pol["on_demand"]["misses"] == 0
    assert pol["safe_uniform_progress"]["misses"] == 0
    assert pol["safe_uniform_progress"]["cost"] <= pol["on_demand"]["cost"]
