"""AWS prices: spot from ``ec2.describe_spot_price_history``, on-demand from the Price List API.

* Spot: for each region, the price now in force in each Availability Zone (``ProductDescriptions=
  ["Linux/UNIX"]``, ``StartTime=now``; paginated), then the **minimum over the region's standard AZs**.
  Local/Wavelength zones (``us-east-1-atl-2a``) are skipped, as in the bundled snapshot (PROVENANCE.md).
* On-demand: ``pricing.get_products`` (ServiceCode ``AmazonEC2``) filtered to one instance type and region,
  Linux, shared tenancy, no pre-installed software, ``capacitystatus=Used``. Each ``PriceList`` entry is a
  JSON *string*; the hourly price is ``terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD``. vCPUs,
  memory and GPU count come from the product's attributes.

* Interruption band: the public Spot Advisor feed (:data:`SPOT_ADVISOR_URL`, no auth, the data behind the
  Spot Instance Advisor page): ``spot_advisor[region]["Linux"][type] = {"s": savings %, "r": index}`` and
  ``ranges[index].label`` (``<5%`` … ``>20%``). If the feed is unreachable the band is left empty and a
  refresh keeps the previous one; pass ``advisor_url=None`` to skip it.

Credentials are boto3's usual chain. Needs ``ec2:DescribeSpotPriceHistory`` and ``pricing:GetProducts``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_ai_scheduler.catalog import BAND_MONTHLY_FREQUENCY, CatalogRow, normalise_gpu_name
from airflow_ai_scheduler.catalog.fetchers import field, http_client, today
from airflow_ai_scheduler.exceptions import CatalogError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

CLOUD = "AWS"
#: The Price List API is served from us-east-1 (and ap-south-1, eu-central-1) whatever region is priced.
PRICING_REGION = "us-east-1"
#: GPU model by instance family, for types missing from the shapes table (the Price List gives a count only)
FAMILY_GPU = {"p3": "V100", "p3dn": "V100-32GB", "p4d": "A100", "p4de": "A100-80GB", "p5": "H100",
              "p5e": "H200", "p5en": "H200", "g4dn": "T4", "g5": "A10G", "g6": "L4", "g6e": "L40S"}
SOURCE = "aws:ec2.describe_spot_price_history+pricing.get_products"
SPOT_ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"


def _default_client(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)


class AwsFetcher:
    name = "aws"

    def __init__(self, shapes: Mapping[str, CatalogRow] | None = None,
                 client_factory: Callable[[str, str], Any] | None = None,
                 now: Callable[[], datetime] | None = None, advisor_url: str | None = SPOT_ADVISOR_URL,
                 http: httpx.Client | None = None) -> None:
        self.shapes = dict(shapes or {})
        self._client_factory = client_factory or _default_client
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.advisor_url = advisor_url
        self._http = http

    def fetch(self, regions: Sequence[str], instance_types: Sequence[str]) -> list[CatalogRow]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._fetch(regions, instance_types)
        except ClientError as exc:  # access denied, throttling, bad filter: say which call and why
            err = exc.response.get("Error", {})
            raise CatalogError(f"AWS {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}") from None
        except BotoCoreError as exc:  # no credentials, endpoint unreachable
            raise CatalogError(f"AWS price API call failed: {exc}") from None

    def _fetch(self, regions: Sequence[str], instance_types: Sequence[str]) -> list[CatalogRow]:
        pricing = self._client_factory("pricing", PRICING_REGION)
        bands = self.advisor_bands(regions)
        rows: list[CatalogRow] = []
        for region in regions:
            spot = self.spot_prices(self._client_factory("ec2", region), region, instance_types)
            for itype in instance_types:
                od = self.on_demand(pricing, region, itype)
                if od is None:
                    log.warning("AWS: no on-demand Linux price for %s in %s; skipped", itype, region)
                    continue
                price, attrs = od
                row = self._row(region, itype, price, spot.get(itype), attrs)
                rows.append(dataclasses.replace(row, interruption_band=bands.get((region, itype))))
        return rows

    # -- interruption bands -------------------------------------------------------------------------
    def advisor_bands(self, regions: Sequence[str]) -> dict[tuple[str, str], str]:
        """(region, type) → Spot Advisor band label; empty if the feed is off or unreachable."""
        if not self.advisor_url:
            return {}
        import httpx

        client = http_client(self._http)
        try:
            resp = client.get(self.advisor_url)
            resp.raise_for_status()
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:  # bands are secondary: keep the previous ones
            log.warning("AWS: Spot Advisor feed unavailable (%s: %s); interruption bands are kept from the "
                        "base catalog", type(exc).__name__, exc)
            return {}
        finally:
            if self._http is None:
                client.close()
        cloud = "AWS Spot Advisor"
        labels: dict[int, str] = {}
        for i, rng in enumerate(field(data, "ranges", cloud, "$", list)):
            label = field(rng, "label", cloud, f"ranges[{i}]", str)
            if label not in BAND_MONTHLY_FREQUENCY:
                raise CatalogError(f"{cloud} response: field ranges[{i}].label is an unknown band {label!r}")
            labels[field(rng, "index", cloud, f"ranges[{i}]", int)] = label
        advisor = field(data, "spot_advisor", cloud, "$", dict)
        out: dict[tuple[str, str], str] = {}
        for region in regions:
            for itype, entry in ((advisor.get(region) or {}).get("Linux") or {}).items():
                r = field(entry, "r", cloud, f"spot_advisor.{region}.Linux.{itype}", int)
                if r not in labels:
                    raise CatalogError(f"{cloud} response: field spot_advisor.{region}.Linux.{itype}.r = {r} "
                                       "is not in ranges")
                out[(region, itype)] = labels[r]
        return out

    # -- spot ---------------------------------------------------------------------------------------
    def spot_prices(self, ec2: Any, region: str, instance_types: Sequence[str]) -> dict[str, float]:
        """Instance type → cheapest current Linux spot price over the region's standard AZs."""
        if not instance_types:
            return {}
        standard_az = re.compile(rf"^{re.escape(region)}[a-z]$")
        latest: dict[tuple[str, str], tuple[datetime, float]] = {}
        paginator = ec2.get_paginator("describe_spot_price_history")
        pages = paginator.paginate(InstanceTypes=list(instance_types), ProductDescriptions=["Linux/UNIX"],
                                   StartTime=self._now())
        for page in pages:
            for i, item in enumerate(field(page, "SpotPriceHistory", CLOUD, "DescribeSpotPriceHistory", list)):
                where = f"SpotPriceHistory[{i}]"
                az = field(item, "AvailabilityZone", CLOUD, where, str)
                itype = field(item, "InstanceType", CLOUD, where, str)
                if not standard_az.match(az):
                    continue
                price = _money(field(item, "SpotPrice", CLOUD, where, str), f"{where}.SpotPrice")
                ts = item.get("Timestamp") or datetime.min.replace(tzinfo=timezone.utc)
                if (itype, az) not in latest or ts > latest[(itype, az)][0]:
                    latest[(itype, az)] = (ts, price)
        out: dict[str, float] = {}
        for (itype, _az), (_ts, price) in latest.items():
            out[itype] = min(price, out.get(itype, price))
        return out

    # -- on-demand ----------------------------------------------------------------------------------
    def on_demand(self, pricing: Any, region: str, itype: str) -> tuple[float, dict[str, Any]] | None:
        """(USD per hour, product attributes) of the cheapest matching product, or None if none is listed."""
        filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in (
            ("instanceType", itype), ("regionCode", region), ("operatingSystem", "Linux"),
            ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))]
        best: tuple[float, dict[str, Any]] | None = None
        paginator = pricing.get_paginator("get_products")
        for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=filters, FormatVersion="aws_v1"):
            for i, raw in enumerate(field(page, "PriceList", CLOUD, "GetProducts", list)):
                where = f"PriceList[{i}]"
                try:
                    product = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    raise CatalogError(f"{CLOUD} price response: {where} is not valid JSON") from None
                attrs = field(field(product, "product", CLOUD, where, dict), "attributes", CLOUD,
                              f"{where}.product", dict)
                for price in _on_demand_prices(product, where):
                    if price > 0 and (best is None or price < best[0]):
                        best = (price, attrs)
        return best

    def _row(self, region: str, itype: str, on_demand: float, spot: float | None,
             attrs: Mapping[str, Any]) -> CatalogRow:
        shape = self.shapes.get(itype)
        vcpus = _attr_number(attrs.get("vcpu")) or (shape.vcpus if shape else None)
        memory = _attr_number(attrs.get("memory")) or (shape.memory_gib if shape else None)
        if not vcpus or not memory:
            raise CatalogError(f"{CLOUD} price response for {itype} in {region}: missing field "
                               "product.attributes.vcpu/memory")
        gpus = int(_attr_number(attrs.get("gpu")) or 0)
        gpu_type = None
        if gpus:
            gpu_type = shape.gpu_type if shape and shape.gpu_type else FAMILY_GPU.get(itype.split(".")[0])
        return CatalogRow(provider="aws", region=region, instance_type=itype, vcpus=vcpus, memory_gib=memory,
                          gpu_type=normalise_gpu_name(gpu_type), gpus=gpus, on_demand_usd_per_hour=on_demand,
                          spot_usd_per_hour=spot, interruption_band=None, source=SOURCE, as_of=today())


def _on_demand_prices(product: Any, where: str) -> list[float]:
    terms = field(product, "terms", CLOUD, where, dict)
    prices = []
    for term_id, term in (terms.get("OnDemand") or {}).items():
        tw = f"{where}.terms.OnDemand.{term_id}"
        for dim_id, dim in field(term, "priceDimensions", CLOUD, tw, dict).items():
            dw = f"{tw}.priceDimensions.{dim_id}"
            if str(dim.get("unit", "Hrs")).lower() not in ("hrs", "hr", "hours"):
                continue
            usd = field(field(dim, "pricePerUnit", CLOUD, dw, dict), "USD", CLOUD, f"{dw}.pricePerUnit", str)
            prices.append(_money(usd, f"{dw}.pricePerUnit.USD"))
    return prices


def _money(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CatalogError(f"{CLOUD} price response: field {where} is not a number: {value!r}") from None


def _attr_number(value: Any) -> float | None:
    """``"16 GiB"`` → 16.0, ``"8"`` → 8.0, ``"NA"``/missing → None (Price List attributes are strings)."""
    m = re.match(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)", str(value or ""))
    return float(m.group(1).replace(",", "")) if m else None
