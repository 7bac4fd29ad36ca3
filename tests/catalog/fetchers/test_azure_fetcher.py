"""Azure fetcher against Retail Prices API pages built from the documented response shape."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from airflow_ai_scheduler.catalog.fetchers import shapes_for
from airflow_ai_scheduler.catalog.fetchers.azure import API_URL, AzureFetcher
from airflow_ai_scheduler.exceptions import CatalogError


def _item(sku: str, price: float, sku_name: str, product: str = "Virtual Machines Dsv5 Series",
          region: str = "eastus", unit: str = "1 Hour", kind: str = "Consumption") -> dict:
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": region, "location": "US East", "effectiveStartDate": "2026-01-01T00:00:00Z",
            "meterId": "m", "meterName": sku_name, "productId": "DZH318Z0BQ4L", "skuId": "DZH318Z0BQ4L/00TG",
            "productName": product, "skuName": sku_name, "serviceName": "Virtual Machines",
            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": unit, "type": kind,
            "isPrimaryMeterRegion": True, "armSkuName": sku}


def _transport(pages: list[dict], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        skip = int(parse_qs(urlparse(str(request.url)).query).get("$skip", ["0"])[0])
        return httpx.Response(200, json=pages[skip])
    return httpx.MockTransport(handler)


def test_pages_are_followed_and_linux_consumption_meters_become_rows():
    page1 = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
             "Count": 4, "NextPageLink": f"{API_URL}?api-version=2023-01-01-preview&$skip=1", "Items": [
                 _item("Standard_D4s_v5", 0.192, "D4s v5"),
                 _item("Standard_D4s_v5", 0.376, "D4s v5", product="Virtual Machines Dsv5 Series Windows"),
                 _item("Standard_D4s_v5", 0.0384, "D4s v5 Low Priority"),
                 _item("Standard_D4s_v5", 0.1, "D4s v5", kind="Reservation", unit="1 Year")]}
    page2 = {"BillingCurrency": "USD", "Count": 2, "NextPageLink": None, "Items": [
        _item("Standard_D4s_v5", 0.0411, "D4s v5 Spot"),
        _item("Standard_NC4as_T4_v3", 0.526, "NC4as T4 v3", product="Virtual Machines NCasT4_v3 Series")]}
    seen: list[httpx.Request] = []
    fetcher = AzureFetcher(shapes=shapes_for("azure"), client=httpx.Client(transport=_transport([page1, page2], seen)))
    rows = {r.instance_type: r for r in fetcher.fetch(["eastus"], ["Standard_D4s_v5", "Standard_NC4as_T4_v3"])}

    assert len(seen) == 2
    flt = parse_qs(urlparse(str(seen[0].url)).query)["$filter"][0]
    assert "armRegionName eq 'eastus'" in flt and "armSkuName eq 'Standard_NC4as_T4_v3'" in flt
    d4 = rows["Standard_D4s_v5"]
    assert (d4.on_demand_usd_per_hour, d4.spot_usd_per_hour, d4.vcpus, d4.memory_gib) == (0.192, 0.0411, 4, 16)
    t4 = rows["Standard_NC4as_T4_v3"]
    assert (t4.spot_usd_per_hour, t4.gpu_type, t4.gpus) == (None, "T4", 1)


def test_types_without_a_known_shape_are_skipped_with_a_warning(caplog):
    seen: list[httpx.Request] = []
    fetcher = AzureFetcher(shapes={}, client=httpx.Client(transport=_transport([{"Items": []}], seen)))
    assert fetcher.fetch(["eastus"], ["Standard_Z9_v9"]) == []
    assert "no vCPU/memory shape known for Standard_Z9_v9" in caplog.text and seen == []


@pytest.mark.parametrize("page, match", [
    pytest.param({"items": []}, r"Azure price response: missing field page 1\.Items", id="no-Items"),
    pytest.param({"Items": [{"armSkuName": "Standard_D4s_v5"}]}, r"missing field Items\[0\]\.armRegionName",
                 id="item-without-region"),
    pytest.param({"Items": [], "NextPageLink": 7}, r"NextPageLink has unexpected type int", id="bad-next-link"),
])
def test_unexpected_shapes_name_azure_and_the_field(page, match):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=page)))
    with pytest.raises(CatalogError, match=match):
        AzureFetcher(shapes=shapes_for("azure"), client=client).fetch(["eastus"], ["Standard_D4s_v5"])


def test_http_error_names_azure_and_the_status():
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(429, text="slow down")))
    with pytest.raises(CatalogError, match="Azure price API returned HTTP 429: slow down"):
        AzureFetcher(shapes=shapes_for("azure"), client=client).fetch(["eastus"], ["Standard_D4s_v5"])


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("AI_SCHEDULER_LIVE_PRICES"),
                    reason="set AI_SCHEDULER_LIVE_PRICES=1 to call the public Azure Retail Prices API")
def test_live_azure_prices_look_like_the_snapshot():
    rows = AzureFetcher(shapes=shapes_for("azure")).fetch(["eastus"], ["Standard_D4s_v5"])
    [row] = rows
    assert 0.05 < row.on_demand_usd_per_hour < 1 and (row.spot_usd_per_hour or 0) < row.on_demand_usd_per_hour
