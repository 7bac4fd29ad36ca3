"""The Airflow path: a ``pydanticai`` connection (from the environment secrets backend) to a pydantic-ai
model, and the live check that runs only with a key."""

from __future__ import annotations

import json
import os

import pytest

from airflow_ai_scheduler.exceptions import LLMPlannerError
from airflow_ai_scheduler.planning.llm import LLMPlanner
from airflow_ai_scheduler.planning.llm.connection import model_from_connection
from airflow_ai_scheduler.planning.validate import validate

KEY = "AIzaCONNKEY-not-real-00000000000000000"


@pytest.fixture
def llm_conn(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AI_SCHED_LLM", json.dumps(
        {"conn_type": "pydanticai", "password": KEY, "extra": {"model": "google:gemini-2.5-flash"}}))
    return "ai_sched_llm"


def test_connection_gives_the_configured_gemini_model(llm_conn):
    model = model_from_connection(llm_conn)
    assert model.model_name == "gemini-2.5-flash" and "google" in model.system


def test_model_override_per_dag(llm_conn):
    assert model_from_connection(llm_conn, "google:gemini-2.5-pro").model_name == "gemini-2.5-pro"


def test_missing_connection_is_a_clear_error(monkeypatch):
    with pytest.raises(LLMPlannerError, match="no_such_conn"):
        model_from_connection("no_such_conn")


def test_planner_with_missing_connection_falls_back(chain):
    planner = LLMPlanner(conn_id="no_such_conn")
    plan = planner.plan(chain)
    assert plan.status == "fallback" and "no_such_conn" in planner.last_exchange.reason
    assert not validate(chain, plan, chain.offers)


@pytest.mark.live
@pytest.mark.skipif(not (os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")),
                    reason="no GEMINI_API_KEY/GOOGLE_API_KEY")
def test_live_gemini_plan_is_valid(chain):
    planner = LLMPlanner("google:gemini-2.5-flash", timeout_seconds=120)
    plan = planner.plan(chain)
    key = os.environ.get("GEMINI_API_KEY") or os.environ["GOOGLE_API_KEY"]
    assert not validate(chain, plan, chain.offers)
    assert planner.last_exchange.outcome in ("accepted", "repaired") and planner.last_exchange.input_tokens
    assert key not in planner.last_exchange.model_dump_json()


def test_connection_key_is_scrubbed_even_if_echoed(llm_conn, chain, monkeypatch, caplog):
    # the provider's error echoes a key that lives only in the connection (not in env), in a non-Google shape
    secret = "conn-only-secret-abcdef123456"
    monkeypatch.setenv("AIRFLOW_CONN_AI_SCHED_LLM", json.dumps(
        {"conn_type": "pydanticai", "password": secret, "extra": {"model": "google:gemini-2.5-flash"}}))
    import airflow_ai_scheduler.planning.llm.planner as planner_mod

    def echo(*a, **k):
        raise LLMPlannerError(f"model call failed: GET https://x.invalid/?key={secret}")

    monkeypatch.setattr(planner_mod, "call_model", echo)
    planner = LLMPlanner(conn_id=llm_conn)
    with caplog.at_level("DEBUG"):
        plan = planner.plan(chain)
    assert plan.status == "fallback"
    assert secret not in planner.last_exchange.model_dump_json() + plan.model_dump_json() + caplog.text
