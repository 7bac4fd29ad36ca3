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


@pytest.mark.parametrize("raw, canonical", [
    pytest.param("nvidia-tesla-v100", "V100", id="gcp-v100"),
    pytest.param("Tesla V100", "V100", id="spaced"),
    pytest.param("nvidia-a100-80gb", "A100-80GB", id="gcp-a100-80"),
    pytest.param("nvidia-h100-80gb", "H100", id="h100-memory-dropped"),
    pytest.param("nvidia-h100-mega-80gb", "H100-MEGA", id="h100-mega"),
    pytest.param("NVIDIA L4", "L4", id="l4"),
    pytest.param("a10g", "A10G", id="lowercase"),
    pytest.param("", None, id="empty"),
])
def test_gpu_names_are_normalised(raw, canonical):
    from airflow_ai_scheduler.catalog import normalise_gpu_name

    assert normalise_gpu_name(raw) == canonical


def test_every_bundled_gpu_row_has_a_canonical_gpu_type():
    from airflow_ai_scheduler.catalog import GPU_NAMES

    gpu_rows = [r for r in bundled_catalog().rows if r.gpus]
    assert gpu_rows and all(r.gpu_type in GPU_NAMES for r in gpu_rows)
    assert all(r.gpu_type is None for r in bundled_catalog().rows if not r.gpus)


def test_query_by_gpu_count_and_tier_excludes_capped_spot():
    cat = bundled_catalog()
    multi = cat.query(gpu_type="A100", min_gpus=8)
    assert multi and all(r.gpus >= 8 and r.gpu_type.startswith("A100") for r in multi)
    assert {r.gpu_type for r in multi} == {"A100", "A100-80GB"}
    assert len(cat.query(tier="on-demand")) == len(cat.rows)
    # spot equal to on-demand means capped/unavailable (offers_notes.csv); no spot price means none sold
    from airflow_ai_scheduler.catalog import Catalog, CatalogRow

    rows = [CatalogRow("aws", "us-east-1", t, 4, 16, None, 0, 1.0, spot, "<5%") for t, spot in
            (("capped", 1.0), ("above", 1.2), ("none", None), ("ok", 0.4))]
    small = Catalog(rows)
    assert [r.instance_type for r in small.query(tier="spot")] == ["ok"]
    assert [o.offer_id for o in small.offers(tiers=("spot",))] == ["aws:us-east-1:ok:spot"]
    assert len(small.offers()) == 5


def test_offers_are_valid_deterministic_and_spot_is_cheaper_with_band_rates():
    from airflow_ai_scheduler.models import Offer

    cat = bundled_catalog()
    offers = cat.offers()
    assert [o.offer_id for o in offers] == [o.offer_id for o in load_catalog(BUNDLED_PATH).offers()]
    assert len({o.offer_id for o in offers}) == len(offers)
    rows = {(r.provider, r.region, r.instance_type): r for r in cat.rows}
    spot = [o for o in offers if o.tier == "spot"]
    assert len(spot) == sum(r.has_spot for r in cat.rows)
    assert len(offers) - len(spot) == len(cat.rows)
    for o in offers:
        assert Offer.model_validate(o.model_dump()) == o
        r = rows[(o.provider, o.region, o.instance_type)]
        assert o.offer_id == f"{o.provider}:{o.region}:{o.instance_type}:{o.tier}"
        if o.tier == "spot":
            assert o.price_per_hour < r.on_demand_usd_per_hour
            assert o.interruption_rate_per_hour == pytest.approx(interruption_rate(r.interruption_band))
        else:
            assert o.interruption_rate_per_hour == 0
    gcp_spot = next(o for o in spot if o.provider == "gcp")
    assert gcp_spot.interruption_rate_per_hour == pytest.approx(-math.log(1 - 0.25) / 730)


def test_offers_filter_by_provider_region_and_tier_and_carry_capacity():
    offers = bundled_catalog().offers(tiers=("on-demand",), providers=["azure"], regions=["azure:eastus"], capacity=3)
    assert offers and all(o.provider == "azure" and o.region == "eastus" and o.tier == "on-demand"
                          and o.capacity == 3 for o in offers)
    offers.clear()  # a caller mutating its list must not empty the cache
    assert bundled_catalog().offers(tiers=("on-demand",), providers=["azure"], regions=["azure:eastus"], capacity=3)


def test_bundled_catalog_is_cached_and_carries_its_notes():
    cat = bundled_catalog()
    assert bundled_catalog() is cat
    by = {(r.provider, r.region, r.instance_type): r for r in cat.rows}
    assert any("suspect" in n for n in cat.notes_for(by[("gcp", "us-central1", "a2-ultragpu-8g")]))
    # wildcard region rows ("gcp,*,a3-megagpu-8g") apply in every region
    assert cat.notes_for(by[("gcp", "europe-west4", "a3-megagpu-8g")])
    assert cat.notes_for(by[("aws", "us-east-1", "m6i.xlarge")]) == []
    assert load_catalog(BUNDLED_PATH).notes == []  # a refreshed file's prices are not the snapshot's


def test_catalog_from_a_setting_rereads_a_changed_file(tmp_path):
    import os

    from airflow_ai_scheduler.catalog import catalog_from

    assert catalog_from("") is bundled_catalog() and catalog_from(None) is bundled_catalog()
    f = tmp_path / "prices.csv"
    header = BUNDLED_PATH.read_text().splitlines()[0]
    f.write_text(header + "\naws,us-east-1,a.one,2,4,,,0.1,,,,\n")
    first = catalog_from(str(f))
    assert catalog_from(f) is first and [r.instance_type for r in first.rows] == ["a.one"]
    f.write_text(header + "\naws,us-east-1,b.two,2,4,,,0.2,,,,\n")
    os.utime(f, ns=(10**18, 10**18))  # a refresh always changes the mtime; make sure it differs here
    assert [r.instance_type for r in catalog_from(f).rows] == ["b.two"]
    with pytest.raises(CatalogError, match="cannot read price catalog"):
        catalog_from(tmp_path / "nope.csv")
