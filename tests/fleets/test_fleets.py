"""Fleet configuration: parsing, errors naming the fleet and field, offers priced from the catalog."""

from __future__ import annotations

import json

import pytest

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import DEFAULT_FLEETS, fleet_offers, load_fleets, parse_fleets


def test_default_fleets_are_a_spot_and_an_on_demand_local_pool():
    fleets = load_fleets()
    assert [(f.name, f.tier, f.backend) for f in fleets] == [
        ("local-spot", "spot", "local"), ("local-on-demand", "on-demand", "local")]


def test_inline_json_and_yaml_file(tmp_path):
    spec = [{"name": "gpu-spot", "provider": "aws", "region": "us-east-1", "instance_type": "g5.xlarge",
             "tier": "spot", "slots": 2}]
    assert load_fleets(json.dumps(spec))[0].name == "gpu-spot"
    f = tmp_path / "fleets.yaml"
    f.write_text("fleets:\n  - name: od\n    provider: gcp\n    region: us-central1\n"
                 "    instance_type: n2-standard-4\n    tier: on-demand\n")
    assert load_fleets("", str(f))[0].provider == "gcp"


def test_errors_name_the_fleet_and_the_field():
    bad = [dict(DEFAULT_FLEETS[0], slots=0), dict(DEFAULT_FLEETS[1], tier="cheap")]
    with pytest.raises(ConfigError) as err:
        parse_fleets(bad)
    msg = str(err.value)
    assert "$[0].slots (fleet 'local-spot')" in msg and "$[1].tier (fleet 'local-on-demand')" in msg
    with pytest.raises(ConfigError, match="duplicate fleet name"):
        parse_fleets([DEFAULT_FLEETS[0], DEFAULT_FLEETS[0]])
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_fleets("[{")


def test_offers_come_from_the_catalog_with_fleet_capacity():
    offers = {o.offer_id: o for o in fleet_offers(load_fleets())}
    spot, od = offers["local-spot"], offers["local-on-demand"]
    assert spot.capacity == 4 and od.capacity == 2
    assert od.price_per_hour == pytest.approx(0.192)          # AWS us-east-1 m6i.xlarge on-demand
    assert 0 < spot.price_per_hour < od.price_per_hour
    assert spot.interruption_rate_per_hour > 0 and od.interruption_rate_per_hour == 0


def test_unknown_instance_needs_explicit_price():
    spec = [{"name": "x", "provider": "aws", "region": "us-east-1", "instance_type": "zz.huge", "tier": "spot"}]
    with pytest.raises(ConfigError, match="not in the price catalog"):
        fleet_offers(parse_fleets(spec))
    spec[0].update(price_per_hour=0.5, vcpus=4, memory_gib=8)
    assert fleet_offers(parse_fleets(spec))[0].price_per_hour == 0.5
