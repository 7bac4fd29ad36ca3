"""Plans and history through the real migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dbutil import migrate, scope_for
from factories import NOW, job, manifest, offer
from sqlalchemy import inspect

from airflow_ai_scheduler.history.estimates import mean_std
from airflow_ai_scheduler.history.store import HistoryStore, ResilientHistoryWriter
from airflow_ai_scheduler.history.tables import metadata
from airflow_ai_scheduler.planning.greedy import GreedyPlanner


def _row(task="t", run="r1", outcome="success", secs=3600.0, tier="spot", **kw):
    return dict(dag_id="d", task_id=task, run_id=run, map_index=-1, try_number=1, fleet="f", provider="aws",
                region="us-east-1", instance_type="m6i.xlarge", tier=tier, actual_start=NOW,
                actual_end=NOW + timedelta(seconds=secs), runtime_seconds=secs, price_per_hour_at_launch=0.1,
                actual_cost=secs / 3600 * 0.1, outcome=outcome, **kw)


def test_migrations_create_exactly_the_model_tables(db_url):
    migrate(db_url)
    _, engine = scope_for(db_url)
    names = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= names and "ai_scheduler_alembic_version" in names
    for table in metadata.tables.values():
        cols = {c["name"] for c in inspect(engine).get_columns(table.name)}
        assert cols == set(table.columns.keys()), table.name
    engine.dispose()


def test_plan_round_trip_and_superseding(store):
    m = manifest([job("a"), job("b", deps=["a"])], [offer("od"), offer("s", "spot", 0.3, lam=0.1)])
    p1 = GreedyPlanner().plan(m)
    first = store.save_plan("d", "r1", p1, m, on_demand_cost=2.0)
    p2 = p1.model_copy(update={"planner": "optimal"})
    second = store.save_plan("d", "r1", p2, m)
    latest = store.latest_plan("d", "r1")
    assert latest.id == second != first and latest.plan == p2
    assert [p["id"] for p in store.recent_plans("d")] == [second]   # the superseded one is hidden
    assert store.latest_plan("d", "nope") is None


def test_runtime_estimates_use_successful_tries_only(store):
    for secs in (3600, 5400, 7200):
        store.record(_row(secs=secs))
    store.record(_row(secs=99999, outcome="failed"))
    store.record(_row(task="u", secs=1800))
    est = store.runtime_estimates("d", ["t", "u", "none"])
    assert est["t"] == pytest.approx(mean_std([1.0, 1.5, 2.0]))
    assert est["u"][0] == pytest.approx(0.5) and est["u"][2] == 1 and "none" not in est


def test_interruptions_and_recent_runs(store):
    store.record(_row(outcome="preempted", secs=600))
    store.record(_row(outcome="success", secs=3000))
    store.record(_row(outcome="success", secs=3600, tier="on-demand"))
    stats = store.interruption_stats()
    assert stats[("aws", "us-east-1", "m6i.xlarge")] == (1, pytest.approx(1.0))
    m = manifest([job("t")], [offer("od")])
    store.save_plan("d", "r1", GreedyPlanner().plan(m), m)
    (run,) = store.recent_runs("d")
    assert run["run_id"] == "r1" and run["actual_cost"] == pytest.approx(0.1 * (600 + 3000 + 3600) / 3600)


def test_llm_exchange_round_trip(store):
    ex = store.save_llm_exchange(dag_id="d", run_id="r", model="google:gemini-2.5-flash", prompt="p",
                                 response="{}", latency_seconds=1.5, outcome="repaired", reason="dependency")
    assert store.llm_exchange(ex)["outcome"] == "repaired"


def test_exchange_saved_from_the_planner_record_and_linked_to_the_plan(store):
    from airflow_ai_scheduler.planning.llm.schema import LLMExchange, RepairSummary

    ex = LLMExchange(prompt_hash="ab" * 32, prompt="the prompt", response_json={"placements": []},
                     model="scripted", latency_seconds=0.5, input_tokens=100, output_tokens=20, attempts=2,
                     outcome="repaired", reason="invalid placements: capacity",
                     repair=RepairSummary(kept=["a"], changed=["b"]))
    ex_id = store.save_exchange(ex, "d", "r1")
    m = manifest([job("a"), job("b")], [offer("od")])
    store.save_plan("d", "r1", GreedyPlanner().plan(m), m, llm_exchange_id=ex_id)
    row = store.llm_exchange(store.latest_plan("d", "r1").llm_exchange_id)
    assert row["response"] == '{"placements": []}' and row["attempts"] == 2 and row["input_tokens"] == 100
    assert row["repair"] == {"kept": ["a"], "changed": ["b"], "retimed": [], "added": []}
    assert row["dag_id"] == "d" and row["prompt_hash"] == "ab" * 32


def test_planning_history_for_the_llm_prompt(store):
    store.record(_row(secs=3600))
    store.record(_row(secs=7200))
    store.record(_row(outcome="preempted", secs=600))
    m = manifest([job("t")], [offer("od")])
    store.save_plan("d", "r1", GreedyPlanner().plan(m), m)
    h = store.planning_history("d", ["t", "never-ran"])
    assert set(h.task_runtimes) == {"t"} and h.task_runtimes["t"].mean_hours == pytest.approx(1.5)
    assert h.task_runtimes["t"].n == 2
    assert h.pool_interruptions == {"aws:us-east-1:m6i.xlarge": 1}
    (run,) = h.recent_runs
    assert run.run_id == "r1" and run.actual_usd == pytest.approx(0.1 * (3600 + 7200 + 600) / 3600)


def test_resilient_writer_keeps_rows_while_the_database_is_down(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'late.db'}"
    scope, engine = scope_for(url)
    writer = ResilientHistoryWriter(HistoryStore(scope))
    assert writer.record(_row()) is False and writer.record(_row(task="u")) is False   # no tables yet
    assert len(writer.pending) == 2 and "history database unavailable" in caplog.text
    migrate(url)                                                                    # the database is back
    assert writer.flush() is True and not writer.pending
    assert {r["task_id"] for r in HistoryStore(scope).history("d")} == {"t", "u"}
    engine.dispose()


def test_approval_states_timeout_policy_and_idempotent_request(store):
    from datetime import datetime, timedelta, timezone

    from airflow_ai_scheduler.history.approval import ApprovalError

    assert store.approval_status("d", "r").state == "not_required"
    first = store.request_approval("d", "r", timeout_minutes=10, on_timeout="approve")
    assert first.state == "pending" and first.blocks
    again = store.request_approval("d", "r", timeout_minutes=99)  # idempotent: the first request stands
    assert again.timeout_at == first.timeout_at
    later = datetime.now(timezone.utc) + timedelta(minutes=11)
    timed_out = store.approval_status("d", "r", now=later)
    assert timed_out.state == "approved" and "timeout policy approves" in timed_out.reason
    assert store.approval_status("d", "r").state == "pending"  # a read never writes
    store.request_approval("d", "r2", on_timeout="reject", timeout_minutes=1)
    assert store.approval_status("d", "r2", now=later).state == "rejected"
    done = store.decide_approval("d", "r", "rejected", by="ana", reason="too risky")
    assert (done.state, done.reason, done.blocks) == ("rejected", "plan rejected by ana: too risky", False)
    with pytest.raises(ApprovalError, match="already"):
        store.decide_approval("d", "r", "approved", by="bo")
    with pytest.raises(ApprovalError, match="does not wait"):
        store.decide_approval("d", "nope", "approved", by="bo")
    with pytest.raises(ApprovalError, match="ai_scheduler_approval_on_timeout"):
        store.request_approval("d", "r3", on_timeout="ignore")
    assert [r["run_id"] for r in store.pending_approvals()] == ["r2"]
    assert store.pending_approvals({"other"}) == []


def test_next_run_settings_are_taken_once(store):
    assert store.take_next_run("d") is None and store.next_run("d") is None
    store.set_next_run("d", {"tiers": ["spot"]}, by="ana")
    store.set_next_run("d", {"tiers": ["on-demand"]}, by="bo")  # the latest choice replaces the first
    assert store.next_run("d")["settings"] == {"tiers": ["on-demand"]}
    assert store.take_next_run("d") == {"settings": {"tiers": ["on-demand"]}, "set_by": "bo"}
    assert store.take_next_run("d") is None and store.clear_next_run("d") is False
