"""Multi-region recovery in the executor: a lost spot pool is replaced by spot elsewhere before on-demand,
the cheapest for the work left with the egress of the job's input counted."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta
from types import SimpleNamespace

from factories import NOW, job, manifest, offer

from airflow_ai_scheduler.airflow.ledger import Entry, Stage
from airflow_ai_scheduler.airflow.preemption import (
    FleetOption,
    PreemptionCallbacks,
    PreemptionHandler,
    choose_fleet,
)
from airflow_ai_scheduler.models import Egress
from airflow_ai_scheduler.recovery import get_policy


def spot(name, price, location, free=1, up=True):
    return FleetOption(name, "spot", free, spot_available=up, location=location, price_per_hour=price)


OD = FleetOption("od", "on-demand", 1, location="aws:us-east-1", price_per_hour=3.0)


def test_spot_in_another_region_before_on_demand():
    fleets = [spot("east", 1.0, "aws:us-east-1", up=False), spot("west", 1.2, "aws:us-west-2"), OD]
    assert choose_fleet("spot", job("t", 4.0), "east", fleets, hours=4.0) == "west"


def test_cheapest_for_the_work_left_not_the_first_listed():
    fleets = [spot("dear", 1.5, "aws:us-west-2"), spot("cheap", 1.0, "aws:eu-west-1"), OD]
    assert choose_fleet("spot", job("t", 4.0), None, fleets, hours=4.0) == "cheap"


def test_egress_of_the_input_is_counted():
    # 500 GB from us-east-1: same region is free of inter-region egress, another region pays per GB
    fleets = [spot("lost", 1.0, "aws:us-east-1", up=False), spot("same-region", 1.1, "aws:us-east-1"),
              spot("far", 1.0, "aws:us-west-2"), OD]
    heavy, light = job("t", 2.0, input_data_size_gb=500), job("t", 2.0)
    assert choose_fleet("spot", heavy, "lost", fleets, hours=2.0) == "same-region"  # 0.2 $ < 500 GB of egress
    assert choose_fleet("spot", light, "lost", fleets, hours=2.0) == "far"          # nothing to move
    free_moves = Egress(inter_region_per_gb=0.0, same_region_per_gb=0.0, internet_per_gb=0.0)
    assert choose_fleet("spot", heavy, "lost", fleets, hours=2.0, egress=free_moves) == "far"


def test_the_pool_just_lost_comes_last_and_unknown_prices_keep_the_order():
    fleets = [FleetOption("a", "spot", 1), FleetOption("b", "spot", 1), FleetOption("c", "spot", 1)]
    assert choose_fleet("spot", None, None, fleets) == "a"
    assert choose_fleet("spot", None, "a", fleets) == "b"
    only = [spot("a", 1.0, "aws:us-east-1")]
    assert choose_fleet("spot", None, "a", only) == "a"  # back in the same pool when it is the only one


def test_no_spot_anywhere_waits_and_full_pools_are_skipped():
    fleets = [spot("east", 1.0, "aws:us-east-1", up=False), spot("west", 0.5, "aws:us-west-2", free=0), OD]
    assert choose_fleet("spot", job("t", 1.0), "east", fleets) is None
    assert choose_fleet("on_demand", job("t", 1.0), "east", fleets) == "od"


def test_the_handler_ranks_by_the_work_left():
    """A long job: the dearer pool in the same region loses to a cheaper one in another region once the
    price difference over the hours left outweighs moving its 100 GB input (2 $)."""
    fleets = [spot("lost", 1.0, "aws:us-east-1", up=False), spot("near", 1.2, "aws:us-east-1"),
              spot("far", 1.1, "aws:us-west-2"), OD]
    m = manifest([job("t", 40.0, input_data_size_gb=100, is_checkpointable=True)],
                 [offer("lost", "spot", 1.0), offer("od", "on-demand", 3.0)])
    h = _handler(m, fleets)
    e = _entry()
    assert h.decide(e) == "far"  # 39.25 h left (0.25 h since the last checkpoint): 43.2 + 2 $ < 47.1 $
    assert choose_fleet("spot", m.job_map["t"], "lost", fleets, hours=1.0) == "near"  # a short remainder stays


def test_spot_the_task_cannot_use_is_not_spot_capacity():
    m = manifest([job("t", 4.0, is_checkpointable=True)], [offer("lost", "spot", 1.0), offer("od", "on-demand", 3.0)])
    misfit = FleetOption("big-only", "spot", 1, spot_available=True, fits=False, location="aws:us-east-1")
    h = _handler(m, [spot("lost", 1.0, "aws:us-east-1", up=False), misfit, OD])
    assert h.state(_entry(), m.job_map["t"]).spot_available is False
    assert _handler(m, [spot("lost", 1.0, "aws:us-east-1", up=False), spot("other", 1.0, "aws:us-west-2"), OD]) \
        .state(_entry(), m.job_map["t"]).spot_available is True


def _handler(m, fleets):
    def requeue(entry):
        f: Future = Future()
        f.set_result((entry.workload, True))
        return f

    cb = PreemptionCallbacks(fail=lambda *a: None, requeue=requeue, replan=lambda *a: None, event=lambda *a: None,
                             job=lambda key: m.job_map.get(key.task_id), deadline=lambda key, j: None,
                             fleets=lambda j: fleets)
    return PreemptionHandler(get_policy(), 3, cb)


def _entry():
    key = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1)
    e = Entry(key=key, workload=object(), stage=Stage.LAUNCHED, fleet="lost", launched_at=NOW,
              first_start=NOW - timedelta(hours=1), ran_hours=1.0, preemptions=1)
    e.previous_fleet = "lost"
    return e
