"""refresh_catalog: merge live rows over a base, write atomically under a lock, never touch the snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from airflow_ai_scheduler.catalog import BUNDLED_PATH, CatalogRow, bundled_catalog, load_catalog
from airflow_ai_scheduler.catalog.refresh import merge_rows, refresh_catalog
from airflow_ai_scheduler.exceptions import CatalogError


class FakeFetcher:
    """Halves every on-demand price it is asked for, and invents one type; records its calls."""

    def __init__(self, name: str = "aws", extra: bool = True) -> None:
        self.name, self.extra, self.calls = name, extra, []

    def fetch(self, regions: Sequence[str], instance_types: Sequence[str]) -> list[CatalogRow]:
        self.calls.append((list(regions), list(instance_types)))
        base = {(r.region, r.instance_type): r for r in bundled_catalog().rows if r.provider == self.name}
        rows = [dataclasses.replace(base[(reg, t)], on_demand_usd_per_hour=base[(reg, t)].on_demand_usd_per_hour / 2,
                                    interruption_band=None, source="fake", as_of="2026-11-23")
                for reg in regions for t in instance_types if (reg, t) in base]
        if self.extra:
            rows.append(CatalogRow(self.name, regions[0], "zz.new", 2, 4, None, 0, 0.05, 0.01, None, "fake", "2026-11-23"))
        return rows


def test_refresh_writes_a_loadable_catalog_with_fetched_prices_over_the_base(tmp_path):
    base = bundled_catalog()
    fetcher = FakeFetcher()
    path, n = refresh_catalog(tmp_path / "prices.csv", [fetcher], regions=["aws:us-east-1", "gcp:us-central1"])

    assert fetcher.calls[0][0] == ["us-east-1"]  # only this provider's regions are asked for
    assert set(fetcher.calls[0][1]) == {r.instance_type for r in base.rows if r.provider == "aws"}
    new = load_catalog(path)
    assert n == len(new.rows) == len(base.rows) + 1
    old_by = {(r.provider, r.region, r.instance_type): r for r in base.rows}
    new_by = {(r.provider, r.region, r.instance_type): r for r in new.rows}
    m6i = ("aws", "us-east-1", "m6i.xlarge")
    assert new_by[m6i].on_demand_usd_per_hour == pytest.approx(old_by[m6i].on_demand_usd_per_hour / 2)
    assert new_by[m6i].interruption_band == old_by[m6i].interruption_band == "5-10%"  # kept from the base
    assert new_by[("aws", "eu-west-1", "m6i.xlarge")] == old_by[("aws", "eu-west-1", "m6i.xlarge")]
    assert new.rows[-1].instance_type == "zz.new"
    assert [r.instance_type for r in new.rows[:5]] == [r.instance_type for r in base.rows[:5]]  # base order kept
    assert not list(tmp_path.glob(".prices.csv.*.tmp"))


@pytest.mark.parametrize("target", [
    pytest.param(BUNDLED_PATH, id="bundled-file"),
    pytest.param(BUNDLED_PATH.parent / "offers_refreshed.csv", id="bundled-data-dir"),
])
def test_refresh_refuses_the_bundled_data_before_fetching(target):
    before = BUNDLED_PATH.read_bytes()
    fetcher = FakeFetcher()
    with pytest.raises(CatalogError, match="bundled price catalog is read-only"):
        refresh_catalog(target, [fetcher])
    assert fetcher.calls == [] and BUNDLED_PATH.read_bytes() == before
    assert not (BUNDLED_PATH.parent / "offers_refreshed.csv").exists()


def test_a_failing_fetcher_leaves_the_previous_output_untouched(tmp_path):
    out = tmp_path / "prices.csv"
    refresh_catalog(out, [FakeFetcher(extra=False)])
    before = out.read_bytes()

    class Broken(FakeFetcher):
        def fetch(self, regions, instance_types):
            raise CatalogError("Azure price response: missing field Items")

    with pytest.raises(CatalogError, match="missing field Items"):
        refresh_catalog(out, [FakeFetcher(), Broken("azure")])
    assert out.read_bytes() == before


def test_a_fetcher_returning_another_providers_rows_is_rejected(tmp_path):
    class Liar(FakeFetcher):
        def fetch(self, regions, instance_types):
            return [dataclasses.replace(r, provider="gcp") for r in super().fetch(regions, instance_types)]

    with pytest.raises(CatalogError, match="fetcher 'aws' returned rows for provider 'gcp'"):
        refresh_catalog(tmp_path / "p.csv", [Liar()])


def test_merge_keeps_base_gpu_model_when_fetched_row_lacks_it():
    base = [r for r in bundled_catalog().rows if r.gpus][:1]
    fetched = [dataclasses.replace(base[0], gpu_type=None, on_demand_usd_per_hour=1.0)]
    [merged] = merge_rows(base, fetched)
    assert merged.gpu_type == base[0].gpu_type and merged.on_demand_usd_per_hour == 1.0


def test_a_second_writer_waits_for_the_lock(tmp_path):
    import threading
    import time

    from airflow_ai_scheduler.catalog.refresh import _locked, write_catalog

    out = tmp_path / "prices.csv"
    rows = bundled_catalog().rows[:3]
    done = threading.Event()
    with _locked(out):  # flock is per open file: a second open in this process blocks too
        t = threading.Thread(target=lambda: (write_catalog(rows, out), done.set()), daemon=True)
        t.start()
        time.sleep(0.3)
        assert not done.is_set() and not out.exists()
    t.join(5)
    assert done.is_set() and load_catalog(out).rows == rows


def test_written_catalog_reads_back_identical(tmp_path):
    from airflow_ai_scheduler.catalog.refresh import write_catalog

    rows = bundled_catalog().rows
    assert any(len(f"{r.on_demand_usd_per_hour}") > 8 for r in rows)  # more digits than %g keeps
    write_catalog(rows, tmp_path / "copy.csv")
    assert load_catalog(tmp_path / "copy.csv").rows == rows


def test_refresh_with_the_real_azure_fetcher_over_a_mocked_api(tmp_path):
    import httpx

    from airflow_ai_scheduler.catalog.fetchers import shapes_for
    from airflow_ai_scheduler.catalog.fetchers.azure import AzureFetcher

    def handler(request: httpx.Request) -> httpx.Response:
        flt = request.url.params["$filter"]
        items = [{"armRegionName": "westus2", "armSkuName": sku, "retailPrice": price, "unitOfMeasure": "1 Hour",
                  "type": "Consumption", "skuName": name, "productName": "Virtual Machines NC Series",
                  "currencyCode": "USD"}
                 for sku, price, name in (("Standard_NC24ads_A100_v4", 3.0, "NC24ads A100 v4"),
                                          ("Standard_NC24ads_A100_v4", 1.1, "NC24ads A100 v4 Spot"))
                 if f"'{sku}'" in flt]
        return httpx.Response(200, json={"Items": items, "NextPageLink": None})

    fetcher = AzureFetcher(shapes=shapes_for("azure"), client=httpx.Client(transport=httpx.MockTransport(handler)))
    path, _ = refresh_catalog(tmp_path / "p.csv", [fetcher], regions=["azure:westus2"])
    row = next(r for r in load_catalog(path).rows
               if (r.provider, r.region, r.instance_type) == ("azure", "westus2", "Standard_NC24ads_A100_v4"))
    assert (row.on_demand_usd_per_hour, row.spot_usd_per_hour, row.gpu_type, row.gpus) == (3.0, 1.1, "A100-80GB", 1)
    spot = next(o for o in load_catalog(path).offers() if o.offer_id == "azure:westus2:Standard_NC24ads_A100_v4:spot")
    assert spot.price_per_hour == 1.1 and spot.interruption_rate_per_hour > 0
