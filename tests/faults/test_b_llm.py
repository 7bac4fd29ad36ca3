"""The LLM endpoint misbehaving (a fake server on 127.0.0.1, never a real model), and hostile task docs:
every run still completes once per task, on a valid plan, and the run's page says what happened."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from fakellm import SLOW_SECONDS

CASES = {  # scenario: (fault, outcome, words of the reason the user sees)
    "ok": ("LLM answers a valid plan", "accepted", "valid as answered"),
    "refused": ("LLM endpoint refuses connections", "fallback", "model call failed"),
    "500": ("LLM endpoint answers HTTP 500", "fallback", "HTTP 500"),
    "garbage": ("LLM endpoint answers garbage (not JSON)", "fallback", "model call failed"),
    "ghost-job": ("LLM hallucinates a job id", "fallback", "unknown jobIds ['ghost_task']"),
    "ghost-offer": ("LLM hallucinates an offer id", "repaired", "unknown_offer"),
    "slow": ("LLM endpoint slower than the timeout", "fallback", "timeout: no answer within 4 s"),
    "hostile": ("hostile task docs (marker, injection, HTML, secrets)", "accepted", "valid as answered"),
}


def _dag(scenario: str) -> str:
    return f"f_llm_{scenario.replace('-', '_')}"


@pytest.fixture(scope="module")
def llm_runs(faults_af):
    """Trigger every scenario's run: 'refused' alone while the fake server is down, then the rest at once."""
    af = faults_af
    runs = {}
    af.llm.stop()
    try:
        runs["refused"] = af.trigger(_dag("refused"))
        af.wait_report(_dag("refused"), runs["refused"], lambda r: r.get("llm"), timeout=180)
    finally:
        af.llm.start()
    for scenario in CASES:
        if scenario != "refused":
            runs[scenario] = af.trigger(_dag(scenario))
    return runs


@pytest.mark.parametrize("scenario", list(CASES), ids=list(CASES))
def test_llm_fault(faults_af, llm_runs, fault, scenario):
    name, outcome, reason = CASES[scenario]
    fault(name)
    af, dag_id, run_id = faults_af, _dag(scenario), llm_runs[scenario]
    t0 = time.monotonic()
    af.clean_run(dag_id, run_id)
    # what the user sees: the run view (the Cost plan tab of the run) names the outcome and the reason
    rep = af.wait_report(dag_id, run_id, lambda r: r.get("llm") and (r.get("plan") or {}).get("planner") == "llm")
    llm = rep["llm"]
    assert llm["outcome"] == outcome and reason in llm["reason"], llm
    assert any(reason in note for note in rep["plan"]["notes"]), rep["plan"]["notes"]
    rows = af.wait_history(dag_id, run_id, lambda rs: len(rs) >= 2)
    assert sorted((r["task_id"], r["outcome"]) for r in rows) == [("extract", "success"), ("load", "success")]
    if scenario == "slow":  # the planner gave up at its timeout, not when the fake answered
        assert SLOW_SECONDS > 4 and time.monotonic() - t0 < 240
    fault.result(f"run succeeds on a valid plan; run view: LLM {outcome} ({llm['reason'][:90]})")


def test_hostile_doc_is_redacted_escaped_and_stored_as_sent(faults_af, llm_runs, fault):
    fault("hostile task docs: stored prompt = sent prompt")
    af, dag_id, run_id = faults_af, _dag("hostile"), llm_runs["hostile"]
    af.wait_report(dag_id, run_id, lambda r: r.get("llm"))
    (sent,) = af.llm.prompts("scenario-hostile")
    status, body = af.http(f"/ai-scheduler/api/runs/{dag_id}/{run_id}/llm-exchange", af.token("admin"))
    ex = json.loads(body)
    assert status == 200 and ex["prompt"] == sent
    assert ex["prompt_hash"] == hashlib.sha256(sent.encode()).hexdigest()
    for secret in ("hunter2hunter2", "AIza" + "Sy" + "C" * 33, "AKIA" + "IOSFODNN7EXAMPLE", "S3cr3t-pass"):
        assert secret not in sent and secret not in body
    assert sent.count("<<<END DATA>>>") == 1 and "<script>" not in sent
    assert all(r["key"] for r in af.llm.requests)  # the key went in the header ...
    assert "AIzaFAKE-fault-matrix" not in body  # ... and never into what is stored
    fault.result("secrets redacted before sending; marker and HTML escaped; stored prompt and hash = what "
                 "the endpoint received")
