"""Region moves (planning/cpsat/regions.py): a data-connected group moved to another location's pools."""

from __future__ import annotations

from factories import job, manifest, offer

from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner, relax
from airflow_ai_scheduler.planning.cpsat.lns import grow
from airflow_ai_scheduler.planning.cpsat.regions import data_graph, search
from airflow_ai_scheduler.planning.greedy import GreedyPlanner


def _two_groups():
    """Two independent groups, each two 1-hour jobs whose 40 GB of output one merge job reads, all due in
    1.3 h: the four long jobs must run at once. aws has the cheapest spot pool but only 2 machines; gcp's
    is a little dearer, also 2. Without capacity everything is cheapest at aws."""
    offers = [offer("aws-spot", "spot", 0.10, lam=0.001, capacity=2),
              offer("aws-od", price=1.0),
              offer("gcp-spot", "spot", 0.15, lam=0.001, capacity=2, provider="gcp", region="us-central1"),
              offer("gcp-od", price=1.2, provider="gcp", region="us-central1")]
    jobs = []
    for g in ("a", "b"):
        jobs += [job(f"{g}1", 1.0, duration_std_hours=0.01), job(f"{g}2", 1.0, duration_std_hours=0.01),
                 job(f"{g}m", 0.1, deps=[f"{g}1", f"{g}2"], input_data_size_gb=40, deadline_h=1.3,
                     duration_std_hours=0.01)]
    return manifest(jobs, offers, weights=Weights(tardiness=100)), offers


def test_grow_follows_data_edges_breadth_first_up_to_its_size():
    m, offers = _two_groups()
    labels = dict.fromkeys((j.job_id for j in m.jobs), "aws:us-east-1")
    adj = data_graph(m, labels)
    assert sorted(adj["am"]) == ["a1", "a2"] and "b1" not in adj["a1"]  # the groups are not connected
    assert grow(adj.__getitem__, "a1", 2) == ["a1", "am"]
    assert sorted(grow(adj.__getitem__, "a1", 10)) == ["a1", "a2", "am"]  # never crosses into the other group


def test_search_moves_one_group_to_the_other_locations_pools():
    m, offers = _two_groups()
    r = relax(m, offers, CandidateIndex(m, offers), {}, 5.0)
    assert set(r.labels.values()) == {"aws:us-east-1"}  # capacity-blind: everything at the cheapest pool

    def price(labels):
        return GreedyPlanner(lookahead=labels, margin_sigmas=3).plan(m, offers)

    start = price(r.labels)
    labels, plan, kept = search(m, r.labels, start, ["aws:us-east-1", "gcp:us-central1"], price)
    assert kept >= 1 and plan.objective.total < start.objective.total - 0.5  # a dear on-demand pair saved
    moved = {g for g in "ab" if {labels[f"{g}1"], labels[f"{g}2"], labels[f"{g}m"]} == {"gcp:us-central1"}}
    stayed = {g for g in "ab" if {labels[f"{g}1"], labels[f"{g}2"], labels[f"{g}m"]} == {"aws:us-east-1"}}
    assert len(moved) == 1 and len(stayed) == 1  # one whole group moved, the other kept the cheap pool
    where = {p.job_id: p.offer_id for p in plan.placements}
    assert sorted(where[f"{g}1"] for g in "ab") == ["aws-spot", "gcp-spot"]
    assert "od" not in "".join(where.values())


def test_planner_keeps_the_moved_labelling_and_says_so():
    # plus the cheapest pool of all at azure, too small for the merge jobs: greedy alone puts the first
    # group's long jobs there and pays 40 GB of egress to the merge — only the moved labelling wins
    m, offers = _two_groups()
    offers = [*offers, offer("azure-spot", "spot", 0.05, lam=0.001, capacity=2, provider="azure",
                             region="eastus", memory_gib=4)]
    m = m.model_copy(update={"offers": offers, "jobs": [
        j.model_copy(update={"resources": j.resources.model_copy(update={"memory_gib": 16})})
        if j.job_id.endswith("m") else j for j in m.jobs]})
    assert GreedyPlanner(margin_sigmas=3).plan(m, offers).objective.total > 3.0
    r = relax(m, offers, CandidateIndex(m, offers), {}, 5.0)
    lookahead = GreedyPlanner(lookahead=r.labels, margin_sigmas=3).plan(m, offers)
    plan = CpSatPlanner(time_limit_seconds=5).plan(m, offers)
    assert plan.objective.total < lookahead.objective.total - 0.5
    assert any(n.startswith("region moves (regions.py): ") for n in plan.notes)
    assert plan.lower_bound is not None and plan.lower_bound <= plan.objective.total + 1e-6
