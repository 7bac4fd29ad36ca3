"""The bundled price catalog: what it holds, how it is queried, and the offers it makes."""

from __future__ import annotations

import csv
import math

import pytest

from airflow_ai_scheduler.catalog import BUNDLED_PATH, bundled_catalog, interruption_rate, load_catalog
from airflow_ai_scheduler.exceptions import CatalogError


def test_bundled_catalog_matches_its_csv():
    with open(BUNDLED_PATH, newline="") as fh:
        raw = list(csv.DictReader(fh))
    cat = bundled_catalog()
    assert len(cat.rows) == len(raw)
    counts = {p: sum(r.provider == p for r in cat.rows) for p in ("aws", "gcp", "azure")}
    assert counts == {p: sum(r["provider"] == p for r in raw) for p in counts}
    assert (BUNDLED_PATH.parent / "PROVENANCE.md").read_text().count("anycloud") >= 1


def test_query_filters():
    cat = bundled_catalog()
    v100 = cat.query(gpu_type="V100")
    assert v100 and all(r.gpu_type.startswith("V100") for r in v100)
    big = cat.query(provider="aws", region="us-east-1", min_vcpus=32, min_memory_gib=128)
    assert big and all(r.vcpus >= 32 and r.memory_gib >= 128 and r.region == "us-east-1" for r in big)
    spot = cat.query(tier="spot")
    assert spot and all(r.spot_usd_per_hour < r.on_demand_usd_per_hour for r in spot)


def test_offers_are_priced_and_spot_carries_an_interruption_rate():
    offers = bundled_catalog().offers()
    by_id = {o.offer_id: o for o in offers}
    od, sp = by_id["aws:us-east-1:m6i.xlarge:on-demand"], by_id["aws:us-east-1:m6i.xlarge:spot"]
    assert od.price_per_hour == pytest.approx(0.192) and sp.price_per_hour == pytest.approx(0.0802)
    assert od.interruption_rate_per_hour == 0 and sp.interruption_rate_per_hour == pytest.approx(interruption_rate("5-10%"))
    assert all(o.tier == "on-demand" or o.price_per_hour > 0 for o in offers)


def test_band_to_rate_is_monotone_and_unknown_is_worst():
    bands = ["<5%", "5-10%", "10-15%", "15-20%", ">20%"]
    rates = [interruption_rate(b) for b in bands]
    assert rates == sorted(rates)
    assert interruption_rate(None) == rates[-1]
    assert rates[-1] == pytest.approx(-math.log(0.75) / 730)


def test_bad_catalog_file_names_the_line_and_column(tmp_path):
    f = tmp_path / "prices.csv"
    f.write_text(BUNDLED_PATH.read_text().splitlines()[0] + "\naws,us-east-1,x,2,4,,,cheap,,,,\n")
    with pytest.raises(CatalogError, match=r"prices.csv:2: column 'on_demand_usd_per_hour'"):
        load_catalog(f)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.csv")
