"""``ai-scheduler prices`` and ``prices refresh`` through the real entry point."""

from __future__ import annotations

import dataclasses
import json

import pytest

from airflow_ai_scheduler.catalog import bundled_catalog, load_catalog
from airflow_ai_scheduler.cli.main import main


def test_table_lists_filtered_rows_aligned(capsys):
    assert main(["prices", "--provider", "aws", "--region", "us-east-1", "--gpu", "A10G", "--tier", "spot"]) == 0
    out = capsys.readouterr().out.splitlines()
    body = [line for line in out[1:] if line.startswith("aws")]
    expected = bundled_catalog().query(provider="aws", region="us-east-1", gpu_type="A10G", tier="spot")
    assert len(body) == len(expected) > 0
    assert out[0].split()[:3] == ["provider", "region", "instance"]
    end = out[0].index("on-demand $/h") + len("on-demand $/h")  # numbers are right-aligned under their header
    assert all(line[end - 1].isdigit() and line[end] == " " and line[end - 5] == "." for line in body)
    assert any(line.startswith(f"{len(expected)} instance types from ") for line in out)


def test_json_output_honours_min_resources(capsys):
    assert main(["prices", "--min-vcpus", "64", "--min-memory", "256", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(float(r["vcpus"]) >= 64 and float(r["memory_gib"]) >= 256 for r in rows)
    assert len(rows) == len(bundled_catalog().query(min_vcpus=64, min_memory_gib=256))


def test_catalog_flag_reads_another_file(tmp_path, capsys):
    f = tmp_path / "mine.csv"
    f.write_text("provider,region,instance_type,vcpus,memory_gib,gpu_name,gpu_count,on_demand_usd_per_hour,"
                 "spot_usd_per_hour,interruption_band,source,as_of\n"
                 "aws,us-east-1,m9.test,2,8,,,0.5,0.1,<5%,test,2026-11-23\n")
    assert main(["prices", "--catalog", str(f), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["instance_type"] == "m9.test"
    assert main(["prices", "--catalog", str(tmp_path / "missing.csv")]) == 2
    assert "--catalog: cannot read price catalog" in capsys.readouterr().err


class _Fake:
    def __init__(self, name: str) -> None:
        self.name, self.calls = name, []

    def fetch(self, regions, instance_types):
        self.calls.append((list(regions), list(instance_types)))
        return [dataclasses.replace(r, on_demand_usd_per_hour=9.99, source="fake")
                for r in bundled_catalog().rows
                if r.provider == self.name and r.region in regions and r.instance_type in instance_types]


def test_refresh_wires_providers_regions_and_types_to_the_fetchers(tmp_path, capsys, monkeypatch):
    from airflow_ai_scheduler.catalog import fetchers

    made: list[_Fake] = []

    def fake_default(providers, base):
        assert base is bundled_catalog()
        made.extend(_Fake(p) for p in providers)
        return list(made)

    monkeypatch.setattr(fetchers, "default_fetchers", fake_default)
    out = tmp_path / "refreshed.csv"
    argv = ["prices", "refresh", "--output", str(out), "--provider", "azure", "--region", "eastus",
            "--instance-type", "Standard_D4s_v5"]
    assert main(argv) == 0
    assert [(f.name, f.calls) for f in made] == [("azure", [(["eastus"], ["Standard_D4s_v5"])])]
    assert str(out) in capsys.readouterr().out
    changed = [r for r in load_catalog(out).rows if r.source == "fake"]
    assert [(r.region, r.instance_type, r.on_demand_usd_per_hour) for r in changed] == [
        ("eastus", "Standard_D4s_v5", 9.99)]
    assert main(["prices", "--catalog", str(out), "--provider", "azure", "--json"]) == 0


@pytest.mark.parametrize("argv, message", [
    pytest.param(["prices", "refresh"], "needs --output FILE", id="no-output"),
    pytest.param(["prices", "refresh", "--output", "x.csv", "--provider", "oracle"], "no live price fetcher for ['oracle']",
                 id="unknown-provider"),
])
def test_refresh_bad_input_exits_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_notes_of_listed_rows_are_printed_and_unknown_bands_marked(capsys):
    assert main(["prices", "--provider", "gcp", "--region", "us-central1", "--region", "gcp:us-central1",
                 "--gpu", "A100-80GB"]) == 0
    out = capsys.readouterr().out
    body = [line for line in out.splitlines() if line.startswith("gcp")]
    assert len(body) == len(bundled_catalog().query(provider="gcp", region="us-central1", gpu_type="A100-80GB"))
    assert all(">20% assumed" in line and line.endswith("]") for line in body)  # GCP publishes no band
    assert "\n[1] " in out and "suspect" in out
    assert main(["prices", "--provider", "gcp", "--gpu", "A100-80GB", "--json"]) == 0
    assert all(r["notes"] for r in json.loads(capsys.readouterr().out))
