"""GCP fetcher against Cloud Billing Catalog API pages built from the documented SKU shape."""

from __future__ import annotations

import logging

import httpx
import pytest

from airflow_ai_scheduler.catalog.fetchers import shapes_for
from airflow_ai_scheduler.catalog.fetchers.gcp import GcpFetcher
from airflow_ai_scheduler.exceptions import CatalogError

KEY = "AIzaSy-secret-test-key"


def _sku(description: str, group: str, usage: str, nanos: int, units: str = "0",
         regions: tuple[str, ...] = ("us-central1",), unit: str = "h") -> dict:
    return {
        "name": f"services/6F81-5844-456A/skus/{abs(hash(description + usage)) % 10**8:08X}",
        "skuId": "0000-0000-0000", "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                     "resourceGroup": group, "usageType": usage},
        "serviceRegions": list(regions),
        "pricingInfo": [{"summary": "", "effectiveTime": "2026-11-20T00:00:00Z", "pricingExpression": {
            "usageUnit": unit, "displayQuantity": 1, "baseUnit": "s", "baseUnitConversionFactor": 3600,
            "tieredRates": [{"startUsageAmount": 0,
                             "unitPrice": {"currencyCode": "USD", "units": units, "nanos": nanos}}]}}],
        "serviceProviderName": "Google",
    }


PAGE1 = {"skus": [
    _sku("N2 Instance Core running in Americas", "CPU", "OnDemand", 31611000),
    _sku("N2 Instance Ram running in Americas", "RAM", "OnDemand", 4237000, unit="GiBy.h"),
    _sku("Spot Preemptible N2 Instance Core running in Americas", "CPU", "Preemptible", 7650000),
    _sku("Spot Preemptible N2 Instance Ram running in Americas", "RAM", "Preemptible", 1025000, unit="GiBy.h"),
    _sku("N2 Instance Core running in Americas", "CPU", "Commit1Yr", 19915000),  # commitments are ignored
    _sku("N2 Custom Instance Core running in Americas", "CPU", "OnDemand", 33191000),  # custom: not a family
    _sku("N2 Instance Core running in Belgium", "CPU", "OnDemand", 34802000, regions=("europe-west1",)),
], "nextPageToken": "tok-2"}
PAGE2 = {"skus": [
    _sku("N1 Predefined Instance Core running in Americas", "N1Standard", "OnDemand", 31611000),
    _sku("N1 Predefined Instance Ram running in Americas", "N1Standard", "OnDemand", 4237000, unit="GiBy.h"),
    _sku("Nvidia Tesla T4 GPU running in Americas", "GPU", "OnDemand", 350000000),
], "nextPageToken": ""}


def _fetcher(pages: list[dict], seen: list[httpx.Request], **kw) -> GcpFetcher:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        token = request.url.params.get("pageToken", "")
        return httpx.Response(200, json=pages[1] if token == "tok-2" else pages[0])
    return GcpFetcher(shapes=shapes_for("gcp"), client=httpx.Client(transport=httpx.MockTransport(handler)), **kw)


def test_machine_prices_are_composed_from_core_ram_and_gpu_skus_over_all_pages(caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []
    rows = {r.instance_type: r for r in _fetcher([PAGE1, PAGE2], seen, api_key=KEY).fetch(
        ["us-central1"], ["n2-standard-8", "n1-standard-4+1xT4", "g2-standard-4", "m3-ultramem-32"])}

    assert [r.url.params.get("pageToken") for r in seen] == [None, "tok-2"]
    assert all(r.headers["X-Goog-Api-Key"] == KEY and KEY not in str(r.url) for r in seen)
    n2 = rows["n2-standard-8"]
    assert n2.on_demand_usd_per_hour == pytest.approx(8 * 0.031611 + 32 * 0.004237)
    assert n2.spot_usd_per_hour == pytest.approx(8 * 0.00765 + 32 * 0.001025)
    n1 = rows["n1-standard-4+1xT4"]
    assert n1.on_demand_usd_per_hour == pytest.approx(4 * 0.031611 + 15 * 0.004237 + 0.35)
    assert n1.spot_usd_per_hour is None and (n1.gpus, n1.gpu_type) == (1, "T4")
    # g2 has no G2/L4 SKUs on these pages; m3 is not a supported family
    assert set(rows) == {"n2-standard-8", "n1-standard-4+1xT4"}
    assert "m3-ultramem-32 is not in a supported family" in caplog.text
    assert "no on-demand SKU prices for g2-standard-4" in caplog.text
    assert KEY not in caplog.text


def test_shapes_of_types_missing_from_the_catalog_come_from_the_name():
    rows = _fetcher([PAGE1, PAGE2], [], api_key=KEY).fetch(["us-central1"], ["n2-highmem-2"])
    assert [(r.vcpus, r.memory_gib) for r in rows] == [(2, 16)]


def test_bearer_token_is_used_when_there_is_no_key_and_missing_auth_is_an_error(monkeypatch):
    for env in ("AI_SCHEDULER_GCP_API_KEY", "GOOGLE_API_KEY", "AI_SCHEDULER_GCP_ACCESS_TOKEN"):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(CatalogError, match="needs an API key"):
        _fetcher([PAGE2], []).fetch(["us-central1"], ["n1-standard-4"])
    monkeypatch.setenv("AI_SCHEDULER_GCP_ACCESS_TOKEN", "ya29.token")
    seen: list[httpx.Request] = []
    fetcher = _fetcher([PAGE2], seen)
    assert fetcher.fetch(["us-central1"], ["n1-standard-4"])[0].on_demand_usd_per_hour > 0
    assert seen[0].headers["Authorization"] == "Bearer ya29.token" and "ya29" not in repr(fetcher)


@pytest.mark.parametrize("page, match", [
    pytest.param({"skus": {}}, r"GCP price response: field page 1\.skus has unexpected type dict", id="skus-not-list"),
    pytest.param({"skus": [{"description": "N2 Instance Core running in Americas", "category": {}}]},
                 r"missing field skus\[0\]\.category\.usageType", id="no-usage-type"),
    pytest.param({"skus": [{**_sku("N2 Instance Core running in Americas", "CPU", "OnDemand", 1), "pricingInfo": [
        {"pricingExpression": {}}]}]}, r"missing field skus\[0\]\.pricingInfo\[0\]\.pricingExpression\.tieredRates",
        id="no-tiered-rates"),
])
def test_unexpected_shapes_name_gcp_and_the_field(page, match):
    with pytest.raises(CatalogError, match=match):
        _fetcher([page], [], api_key=KEY).fetch(["us-central1"], ["n2-standard-8"])
