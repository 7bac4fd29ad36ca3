"""GCP prices from the Cloud Billing Catalog API (Compute Engine service ``6F81-5844-456A``).

``GET https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus`` returns ``{"skus": [...],
"nextPageToken": "..."}`` (an empty token ends the listing). It needs an API key (``X-Goog-Api-Key``
header; env ``AI_SCHEDULER_GCP_API_KEY`` or ``GOOGLE_API_KEY``) or an OAuth bearer token (env
``AI_SCHEDULER_GCP_ACCESS_TOKEN``). Both go in headers, never in the URL or the logs.

GCP does not price machine types: it prices a vCPU-hour and a GiB-hour per machine family, and a GPU-hour
per accelerator. A SKU is used when ``category.resourceFamily == "Compute"``, ``category.usageType`` is
``OnDemand`` or ``Preemptible`` (spot), its ``serviceRegions`` holds the region, and its description is
one of::

    "[Spot Preemptible ]<family prefix> Core|Ram running in <area>"     (resourceGroup CPU / RAM / N1Standard)
    "[Spot Preemptible ]Nvidia [Tesla ]<gpu> GPU running in <area>"     (resourceGroup GPU)

The price is ``pricingInfo[0].pricingExpression.tieredRates[-1].unitPrice`` = units + nanos·1e-9 USD.
A machine costs vcpus·core + memory_gib·ram (+ gpus·gpu). Supported families (:data:`FAMILY_PREFIXES`):
n1, n2, n2d, e2, c2, c3, n4, and the GPU families g2 (+L4), a2 (+A100 / A100 80GB), a3 (+H100), plus the
bundled catalog's ``n1-standard-N+KxGPU`` composites. Other types are skipped with a logged warning.
Shapes come from the shapes table, else from the name (``n2-highmem-8`` → 8 vCPU × 8 GiB).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_ai_scheduler.catalog import CatalogRow, normalise_gpu_name
from airflow_ai_scheduler.catalog.fetchers import MAX_PAGES, field, get_json, http_client, today
from airflow_ai_scheduler.exceptions import CatalogError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

CLOUD = "GCP"
COMPUTE_SERVICE = "6F81-5844-456A"
API_URL = f"https://cloudbilling.googleapis.com/v1/services/{COMPUTE_SERVICE}/skus"
SOURCE = "gcp:cloudbilling.googleapis.com services/6F81-5844-456A/skus"
API_KEY_ENV = ("AI_SCHEDULER_GCP_API_KEY", "GOOGLE_API_KEY")
TOKEN_ENV = "AI_SCHEDULER_GCP_ACCESS_TOKEN"

#: SKU description prefix → machine family whose per-vCPU / per-GiB prices it carries
FAMILY_PREFIXES = {
    "N1 Predefined Instance": "n1", "N2 Instance": "n2", "N2D AMD Instance": "n2d", "E2 Instance": "e2",
    "Compute optimized": "c2", "C3 Instance": "c3", "N4 Instance": "n4", "G2 Instance": "g2",
    "A2 Instance": "a2", "A3 Instance": "a3",
}
#: GiB per vCPU of the predefined shapes, for types not in the shapes table (n1 is the odd one out)
MEMORY_PER_VCPU = {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0}
N1_MEMORY_PER_VCPU = {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9}

_RESOURCE = re.compile(r"^(?:Spot Preemptible |Preemptible )?(?P<prefix>.+?) (?P<kind>Core|Ram) running in ")
_GPU = re.compile(r"^(?:Spot Preemptible |Preemptible )?Nvidia (?:Tesla )?(?P<gpu>.+?) GPU running in ")
_TIERS = {"OnDemand": "on-demand", "Preemptible": "spot"}
_MACHINE = re.compile(r"^(?P<family>[a-z][a-z0-9]*)-(?P<kind>standard|highmem|highcpu|highgpu|ultragpu|megagpu)"
                      r"-(?P<n>\d+)g?(?:\+(?P<count>\d+)x(?P<gpu>[A-Za-z0-9-]+))?$")

# (resource, tier, region) → USD per unit-hour; resource is ("core"|"ram", family) or ("gpu", name)
Prices = dict[tuple[tuple[str, str], str, str], float]


class GcpFetcher:
    name = "gcp"

    def __init__(self, shapes: Mapping[str, CatalogRow] | None = None, client: httpx.Client | None = None,
                 api_key: str | None = None, access_token: str | None = None, api_url: str = API_URL) -> None:
        self.shapes = dict(shapes or {})
        self._client = client
        self._api_key = api_key or next((os.environ[e] for e in API_KEY_ENV if os.environ.get(e)), None)
        self._token = access_token or os.environ.get(TOKEN_ENV) or None
        self.api_url = api_url

    def __repr__(self) -> str:  # never show the key
        return f"GcpFetcher(api_url={self.api_url!r}, auth={'key' if self._api_key else 'token' if self._token else None})"

    def _headers(self) -> dict[str, str]:
        if self._api_key:
            return {"X-Goog-Api-Key": self._api_key}
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        raise CatalogError(f"GCP price refresh needs an API key ({' or '.join(API_KEY_ENV)}) "
                           f"or an access token ({TOKEN_ENV})")

    def fetch(self, regions: Sequence[str], instance_types: Sequence[str]) -> list[CatalogRow]:
        headers = self._headers()
        client = http_client(self._client)
        try:
            prices = self.unit_prices(client, headers, set(regions))
        finally:
            if self._client is None:
                client.close()
        rows: list[CatalogRow] = []
        for itype in instance_types:
            parts = self._parts(itype)
            if parts is None:
                continue
            family, vcpus, memory, gpu_type, gpus = parts
            for region in regions:
                od = _machine_price(prices, "on-demand", region, family, vcpus, memory, gpu_type, gpus)
                if od is None:
                    log.warning("GCP: no on-demand SKU prices for %s in %s; skipped", itype, region)
                    continue
                rows.append(CatalogRow(
                    provider="gcp", region=region, instance_type=itype, vcpus=vcpus, memory_gib=memory,
                    gpu_type=gpu_type, gpus=gpus, on_demand_usd_per_hour=round(od, 6),
                    spot_usd_per_hour=_round(_machine_price(prices, "spot", region, family, vcpus, memory,
                                                            gpu_type, gpus)),
                    interruption_band=None, source=SOURCE, as_of=today()))
        return rows

    def _parts(self, itype: str) -> tuple[str, float, float, str | None, int] | None:
        """(family, vcpus, memory GiB, GPU type, GPU count) of a machine type, or None if unsupported."""
        m = _MACHINE.match(itype)
        family: str = m.group("family") if m else ""
        if m is None or family not in FAMILY_PREFIXES.values():
            log.warning("GCP: machine type %s is not in a supported family (%s); skipped", itype,
                        ", ".join(sorted(set(FAMILY_PREFIXES.values()))))
            return None
        shape = self.shapes.get(itype)
        if shape is not None:
            return family, shape.vcpus, shape.memory_gib, shape.gpu_type, shape.gpus
        ratios = N1_MEMORY_PER_VCPU if family == "n1" else MEMORY_PER_VCPU
        if m.group("kind") not in ratios or family in ("g2", "a2", "a3"):
            log.warning("GCP: no shape known for %s (not in the catalog); skipped", itype)
            return None
        vcpus = float(m.group("n"))
        gpus = int(m.group("count") or 0)
        return family, vcpus, vcpus * ratios[m.group("kind")], normalise_gpu_name(m.group("gpu")), gpus

    def unit_prices(self, client: httpx.Client, headers: dict[str, str], regions: set[str]) -> Prices:
        """Per-vCPU, per-GiB and per-GPU hourly prices in ``regions``, over every page of the listing."""
        prices: Prices = {}
        token = ""
        for page_no in range(MAX_PAGES):
            params = {"pageSize": "5000", "currencyCode": "USD"}
            if token:
                params["pageToken"] = token
            page = get_json(client, CLOUD, self.api_url, params=params, headers=headers)
            for i, sku in enumerate(field(page, "skus", CLOUD, f"page {page_no + 1}", list)):
                _add_sku(prices, sku, f"skus[{i}]", regions)
            token = page.get("nextPageToken") or ""
            if not isinstance(token, str):
                raise CatalogError(f"{CLOUD} price response: field nextPageToken has unexpected type")
            if not token:
                return prices
        raise CatalogError(f"{CLOUD} price API: more than {MAX_PAGES} pages; giving up")


def _add_sku(prices: Prices, sku: Any, where: str, regions: set[str]) -> None:
    category = field(sku, "category", CLOUD, where, dict)
    tier = _TIERS.get(field(category, "usageType", CLOUD, f"{where}.category", str))
    if category.get("resourceFamily") != "Compute" or tier is None:
        return
    description = field(sku, "description", CLOUD, where, str)
    resource: tuple[str, str] | None = None
    if (m := _RESOURCE.match(description)) and m.group("prefix") in FAMILY_PREFIXES:
        resource = (m.group("kind").lower(), FAMILY_PREFIXES[m.group("prefix")])
    elif (g := _GPU.match(description)) and category.get("resourceGroup") == "GPU":
        resource = ("gpu", normalise_gpu_name(g.group("gpu")) or g.group("gpu"))
    in_scope = set(field(sku, "serviceRegions", CLOUD, where, list)) & regions
    if resource is None or not in_scope:
        return
    info = field(sku, "pricingInfo", CLOUD, where, list)
    if not info:
        raise CatalogError(f"{CLOUD} price response: field {where}.pricingInfo is empty")
    expr = field(info[0], "pricingExpression", CLOUD, f"{where}.pricingInfo[0]", dict)
    rates = field(expr, "tieredRates", CLOUD, f"{where}.pricingInfo[0].pricingExpression", list)
    if not rates:
        return
    # the last tier is the rate beyond any free allowance (compute SKUs have a single tier from 0)
    unit = field(rates[-1], "unitPrice", CLOUD, f"{where}.pricingInfo[0].pricingExpression.tieredRates[-1]", dict)
    try:
        price = float(unit.get("units") or 0) + float(unit.get("nanos") or 0) * 1e-9
    except (TypeError, ValueError):
        raise CatalogError(f"{CLOUD} price response: field {where}...unitPrice is not a number") from None
    for region in in_scope:
        prices[(resource, tier, region)] = price


def _machine_price(prices: Prices, tier: str, region: str, family: str, vcpus: float, memory: float,
                   gpu_type: str | None, gpus: int) -> float | None:
    core, ram = prices.get((("core", family), tier, region)), prices.get((("ram", family), tier, region))
    if core is None or ram is None:
        return None
    total = vcpus * core + memory * ram
    if gpus:
        gpu = prices.get((("gpu", gpu_type or ""), tier, region))
        if gpu is None:
            return None
        total += gpus * gpu
    return total


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
