"""Azure prices from the public Retail Prices API (no authentication).

``GET https://prices.azure.com/api/retail/prices?api-version=...&$filter=...`` returns ``{"Items": [...],
"NextPageLink": url | null}``; pages are followed until ``NextPageLink`` is null. One item per meter:
``armRegionName``, ``armSkuName`` (``Standard_D4s_v5``), ``retailPrice`` (USD), ``unitOfMeasure``
(``1 Hour``), ``type`` (``Consumption``; reservations and DevTest are other types), ``skuName``
(``D4s v5``, ``D4s v5 Spot``, ``D4s v5 Low Priority``) and ``productName`` (``... Series Windows`` for
Windows meters). We keep Linux Consumption meters; ``Spot`` in skuName is the spot price, Low Priority
(Batch) is dropped. The API returns neither vCPUs nor memory, so shapes come from the shapes table and
types missing from it are skipped with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_ai_scheduler.catalog import CatalogRow
from airflow_ai_scheduler.catalog.fetchers import MAX_PAGES, field, get_json, http_client, today
from airflow_ai_scheduler.exceptions import CatalogError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

CLOUD = "Azure"
API_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
#: armSkuName clauses per request: keeps the $filter (and so the URL) well under common length limits
SKUS_PER_QUERY = 15
SOURCE = "azure:prices.azure.com/api/retail/prices"


class AzureFetcher:
    name = "azure"

    def __init__(self, shapes: Mapping[str, CatalogRow] | None = None, client: httpx.Client | None = None,
                 api_url: str = API_URL) -> None:
        self.shapes = dict(shapes or {})
        self._client = client
        self.api_url = api_url

    def fetch(self, regions: Sequence[str], instance_types: Sequence[str]) -> list[CatalogRow]:
        client = http_client(self._client)
        known = [t for t in instance_types if t in self.shapes]
        for t in sorted(set(instance_types) - set(known)):
            log.warning("Azure: no vCPU/memory shape known for %s (the Retail Prices API has none); skipped", t)
        rows: list[CatalogRow] = []
        try:
            for region in regions:
                prices: dict[tuple[str, str], float] = {}
                for i in range(0, len(known), SKUS_PER_QUERY):
                    for item in self.items(client, region, known[i:i + SKUS_PER_QUERY]):
                        key = _classify(item)
                        if key is not None and key[0] in self.shapes:
                            prices[key] = min(item["retailPrice"], prices.get(key, item["retailPrice"]))
                for itype in known:
                    od = prices.get((itype, "on-demand"))
                    if od is None:
                        log.warning("Azure: no Linux pay-as-you-go price for %s in %s; skipped", itype, region)
                        continue
                    shape = self.shapes[itype]
                    rows.append(CatalogRow(
                        provider="azure", region=region, instance_type=itype, vcpus=shape.vcpus,
                        memory_gib=shape.memory_gib, gpu_type=shape.gpu_type, gpus=shape.gpus,
                        on_demand_usd_per_hour=od, spot_usd_per_hour=prices.get((itype, "spot")),
                        interruption_band=None, source=SOURCE, as_of=today()))
        finally:
            if self._client is None:
                client.close()
        return rows

    def items(self, client: httpx.Client, region: str, skus: Sequence[str]) -> list[dict[str, Any]]:
        """Every item of every page for ``skus`` in ``region``, shape-checked."""
        sku_clause = " or ".join(f"armSkuName eq '{_quote(s)}'" for s in skus)
        flt = (f"serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
               f"and armRegionName eq '{_quote(region)}' and ({sku_clause})")
        url: str | None = self.api_url
        params: dict[str, str] | None = {"api-version": API_VERSION, "$filter": flt, "currencyCode": "USD"}
        out: list[dict[str, Any]] = []
        for page_no in range(MAX_PAGES):
            if url is None:
                return out
            page = get_json(client, CLOUD, url, params=params)
            for i, item in enumerate(field(page, "Items", CLOUD, f"page {page_no + 1}", list)):
                where = f"Items[{i}]"
                for key, kind in (("armRegionName", str), ("armSkuName", str), ("retailPrice", (int, float)),
                                  ("unitOfMeasure", str), ("type", str), ("skuName", str),
                                  ("productName", str)):
                    field(item, key, CLOUD, where, kind)
                out.append(item)
            nxt = page.get("NextPageLink")
            if nxt is not None and not isinstance(nxt, str):
                raise CatalogError(f"{CLOUD} price response: field NextPageLink has unexpected type "
                                   f"{type(nxt).__name__}")
            url, params = nxt or None, None  # the next link carries the query itself
        raise CatalogError(f"{CLOUD} price API: more than {MAX_PAGES} pages for {region}; giving up")


def _classify(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """(armSkuName, tier) for a Linux hourly VM meter, None for anything else."""
    sku_name, product = item["skuName"], item["productName"]
    if item["type"] != "Consumption" or item["unitOfMeasure"].strip().lower() != "1 hour":
        return None
    if "Windows" in product or "Low Priority" in sku_name or item["retailPrice"] <= 0:
        return None
    if item.get("currencyCode", "USD") != "USD":
        return None
    return item["armSkuName"], "spot" if "Spot" in sku_name else "on-demand"


def _quote(value: str) -> str:
    return value.replace("'", "''")  # OData string literal escaping
