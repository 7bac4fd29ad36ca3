"""AWS fetcher against botocore Stubber responses built from the documented EC2 / Price List shapes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from airflow_ai_scheduler.catalog.fetchers import PriceFetcher, shapes_for
from airflow_ai_scheduler.catalog.fetchers.aws import AwsFetcher
from airflow_ai_scheduler.exceptions import CatalogError

boto3 = pytest.importorskip("boto3")

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc)
#: the Spot Advisor feed's shape (as in the snapshot's raw/spotinfo_spot-advisor-data.json), trimmed
ADVISOR = {
    "global_rate": "<10%", "instance_types": ["m6i.xlarge", "g5.xlarge"],
    "ranges": [{"index": 0, "label": "<5%", "dots": 0, "max": 5}, {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
               {"index": 2, "label": "10-15%", "dots": 2, "max": 16}, {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
               {"index": 4, "label": ">20%", "dots": 4, "max": 100}],
    "spot_advisor": {"us-east-1": {"Linux": {"m6i.xlarge": {"s": 58, "r": 1}, "g5.xlarge": {"s": 60, "r": 4}},
                                   "Windows": {"m6i.xlarge": {"s": 40, "r": 0}}}},
}


def _advisor(payload=ADVISOR, status: int = 200) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, json=payload)))


def _fetcher(factory, **kw) -> AwsFetcher:
    kw.setdefault("http", _advisor())
    return AwsFetcher(client_factory=factory, now=lambda: NOW, **kw)


def _client(service: str, region: str):
    return boto3.client(service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")


def _spot(az: str, itype: str, price: str, minutes_ago: int = 0) -> dict:
    return {"AvailabilityZone": az, "InstanceType": itype, "ProductDescription": "Linux/UNIX",
            "SpotPrice": price, "Timestamp": NOW - timedelta(minutes=minutes_ago)}


def _product(itype: str, region: str, usd: str, vcpu: str, memory: str, gpu: str | None = None) -> str:
    attrs = {"instanceType": itype, "regionCode": region, "vcpu": vcpu, "memory": memory,
             "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
    if gpu is not None:
        attrs["gpu"] = gpu
    sku = f"SKU{itype}"
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": attrs},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku,
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "description": f"$ per On Demand Linux {itype} Instance Hour",
                "pricePerUnit": {"USD": usd}}}}}},
    })


def _products_params(itype: str, region: str) -> dict:
    return {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": [
        {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in (
            ("instanceType", itype), ("regionCode", region), ("operatingSystem", "Linux"),
            ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))]}


@pytest.fixture
def stubbed():
    from botocore.stub import Stubber

    ec2, pricing = _client("ec2", "us-east-1"), _client("pricing", "us-east-1")
    with Stubber(ec2) as ec2_stub, Stubber(pricing) as pricing_stub:
        clients = {"ec2": ec2, "pricing": pricing}
        yield (lambda service, region: clients[service]), ec2_stub, pricing_stub
        ec2_stub.assert_no_pending_responses()
        pricing_stub.assert_no_pending_responses()


def test_spot_is_the_cheapest_standard_az_over_all_pages_and_on_demand_from_price_list(stubbed):
    factory, ec2_stub, pricing_stub = stubbed
    types = ["m6i.xlarge", "g5.xlarge"]
    spot_params = {"InstanceTypes": types, "ProductDescriptions": ["Linux/UNIX"], "StartTime": NOW}
    ec2_stub.add_response("describe_spot_price_history", {"NextToken": "page2", "SpotPriceHistory": [
        _spot("us-east-1a", "m6i.xlarge", "0.0900"),
        _spot("us-east-1b", "m6i.xlarge", "0.0850", minutes_ago=90),  # superseded by the newer price below
        _spot("us-east-1-atl-2a", "m6i.xlarge", "0.0100"),  # a Local Zone: not a standard AZ
    ]}, spot_params)
    ec2_stub.add_response("describe_spot_price_history", {"NextToken": "", "SpotPriceHistory": [
        _spot("us-east-1b", "m6i.xlarge", "0.0950", minutes_ago=5),
        _spot("us-east-1c", "g5.xlarge", "0.4400"),
    ]}, {**spot_params, "NextToken": "page2"})
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1", "NextToken": "more", "PriceList": [
        _product("m6i.xlarge", "us-east-1", "0.1920000000", "4", "16 GiB")]},
        _products_params("m6i.xlarge", "us-east-1"))
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []},
                              {**_products_params("m6i.xlarge", "us-east-1"), "NextToken": "more"})
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
        _product("g5.xlarge", "us-east-1", "1.0060000000", "4", "16 GiB", gpu="1")]},
        _products_params("g5.xlarge", "us-east-1"))

    fetcher = _fetcher(factory)
    assert isinstance(fetcher, PriceFetcher)
    rows = {r.instance_type: r for r in fetcher.fetch(["us-east-1"], types)}

    m6i = rows["m6i.xlarge"]
    assert (m6i.on_demand_usd_per_hour, m6i.spot_usd_per_hour) == (0.192, 0.09)  # min(0.09, latest 0.095)
    assert (m6i.vcpus, m6i.memory_gib, m6i.gpus, m6i.gpu_type) == (4, 16, 0, None)
    g5 = rows["g5.xlarge"]
    assert (g5.gpus, g5.gpu_type, g5.spot_usd_per_hour, g5.on_demand_usd_per_hour) == (1, "A10G", 0.44, 1.006)
    assert (m6i.interruption_band, g5.interruption_band) == ("5-10%", ">20%")  # Linux entries, not Windows
    assert all(r.provider == "aws" and r.region == "us-east-1" for r in rows.values())


def test_type_without_spot_history_keeps_on_demand_and_gpu_model_from_shapes(stubbed):
    factory, ec2_stub, pricing_stub = stubbed
    ec2_stub.add_response("describe_spot_price_history", {"SpotPriceHistory": []}, None)
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
        _product("p3dn.24xlarge", "us-east-1", "31.212", "96", "768 GiB", gpu="8")]}, None)
    fetcher = _fetcher(factory, shapes=shapes_for("aws"), http=_advisor(status=503))
    [row] = fetcher.fetch(["us-east-1"], ["p3dn.24xlarge"])
    assert row.spot_usd_per_hour is None and row.gpus == 8 and row.gpu_type == "V100-32GB"
    assert row.interruption_band is None  # feed down: no band (a refresh keeps the base one)


def test_unexpected_price_list_shape_names_aws_and_the_field(stubbed):
    factory, ec2_stub, pricing_stub = stubbed
    ec2_stub.add_response("describe_spot_price_history", {"SpotPriceHistory": []}, None)
    bad = json.loads(_product("m6i.xlarge", "us-east-1", "0.192", "4", "16 GiB"))
    dim = next(iter(next(iter(bad["terms"]["OnDemand"].values()))["priceDimensions"].values()))
    del dim["pricePerUnit"]["USD"]
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [json.dumps(bad)]}, None)
    with pytest.raises(CatalogError, match=r"AWS price response: missing field PriceList\[0\]\.terms.*pricePerUnit\.USD"):
        _fetcher(factory, advisor_url=None).fetch(["us-east-1"], ["m6i.xlarge"])


def test_missing_on_demand_product_skips_the_type_with_a_warning(stubbed, caplog):
    factory, ec2_stub, pricing_stub = stubbed
    ec2_stub.add_response("describe_spot_price_history", {"SpotPriceHistory": [
        _spot("us-east-1a", "x9.huge", "1.0")]}, None)
    pricing_stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []}, None)
    assert _fetcher(factory).fetch(["us-east-1"], ["x9.huge"]) == []
    assert "no on-demand Linux price for x9.huge in us-east-1" in caplog.text


@pytest.mark.parametrize("payload, match", [
    pytest.param({"spot_advisor": {}}, r"AWS Spot Advisor price response: missing field \$\.ranges", id="no-ranges"),
    pytest.param({**ADVISOR, "ranges": [{"index": 0, "label": "rare"}]}, "unknown band 'rare'", id="unknown-band"),
    pytest.param({**ADVISOR, "ranges": ADVISOR["ranges"][:1]}, r"m6i\.xlarge\.r = 1 is not in ranges", id="bad-index"),
])
def test_unexpected_spot_advisor_shape_is_an_error(payload, match):
    with pytest.raises(CatalogError, match=match):
        AwsFetcher(http=_advisor(payload)).advisor_bands(["us-east-1"])


def test_aws_client_errors_become_catalog_errors_naming_the_call(stubbed):
    factory, ec2_stub, pricing_stub = stubbed
    ec2_stub.add_client_error("describe_spot_price_history", service_error_code="UnauthorizedOperation",
                              service_message="You are not authorized to perform this operation.", http_status_code=403)
    with pytest.raises(CatalogError, match="AWS DescribeSpotPriceHistory failed: UnauthorizedOperation: You are not"):
        _fetcher(factory).fetch(["us-east-1"], ["m6i.xlarge"])

