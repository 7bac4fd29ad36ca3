"""The prompt: deterministic, data quoted as JSON, compressed to fit a character budget."""

from __future__ import annotations

import pytest

from airflow_ai_scheduler.exceptions import LLMPlannerError
from airflow_ai_scheduler.planning.llm import PlanningHistory, RunCost, TaskStats, build_prompt
from airflow_ai_scheduler.planning.llm.audit import prompt_hash
from tests.factories import job, manifest, offer


def _offers(n: int) -> list:
    # each cheaper offer is riskier, so candidate pruning keeps them all
    return [offer(f"o{i}", "spot", 2.0 - i / 10, lam=0.01 * i) for i in range(n)]


def test_same_manifest_same_prompt_and_hash():
    m = manifest([job("a"), job("b", 2, ["a"])], _offers(4))
    assert prompt_hash(build_prompt(m)) == prompt_hash(build_prompt(m.model_copy(deep=True)))
    assert prompt_hash(build_prompt(m)) != prompt_hash(build_prompt(m.model_copy(update={"budget_usd": 9.0})))


def test_jobs_in_topological_order_and_names_quoted():
    m = manifest([job("z_last", 1, ['x"; drop']), job('x"; drop', 1)], _offers(2))
    text = build_prompt(m)
    assert text.index('"x\\"; drop" |') < text.index('"z_last" |')


def test_top_k_limits_offers_per_candidate_set():
    m = manifest([job("a")], _offers(12))
    text = build_prompt(m, top_k=3)
    rows = [line for line in text.splitlines() if line.startswith('  "o')]
    assert len(rows) == 3


def test_identical_jobs_share_one_candidate_set():
    m = manifest([job(f"map_{i}") for i in range(50)], _offers(6))
    text = build_prompt(m)
    assert text.count("\nS0:") == 1 and "\nS1:" not in text
    assert text.count("| S0") == 50


def test_an_elastic_job_gets_its_own_candidate_set_priced_with_its_speedup():
    from airflow_ai_scheduler.models import Resources

    r4 = Resources(vcpus=4, memory_gib=8)
    offers = [offer("small", "on-demand", 1.0, vcpus=4), offer("big", "on-demand", 3.0, vcpus=16)]
    m = manifest([job("plain", resources=r4), job("el", resources=r4, elastic=True),
                  job("half", resources=r4, elastic=True, parallel_fraction=0.5)], offers)
    text = build_prompt(m)
    sets = {line.split(" | ")[0].strip('"'): line.rsplit("| ", 1)[1] for line in text.splitlines()
            if line.startswith(('"plain"', '"el"', '"half"'))}
    assert len(set(sets.values())) == 3
    # the 'big' row of the linear elastic job's set: a quarter hour per hour of work, at 3 $/h
    section = text.split(f"\n{sets['el']}:")[1].split("\nS")[0]
    (big,) = [line for line in section.splitlines() if line.startswith('  "big"')]
    assert big.split(" | ")[-2:] == ["0.25", "0.75"]


def test_budget_shrinks_top_k_then_refuses():
    m = manifest([job(f"j{i}", 1 + i) for i in range(40)], _offers(8))
    full = build_prompt(m, top_k=5)
    small = build_prompt(m, top_k=5, max_chars=len(full) - 1)
    assert len(small) < len(full)
    with pytest.raises(LLMPlannerError, match="40 jobs"):
        build_prompt(m, max_chars=500)


def test_history_section():
    h = PlanningHistory(task_runtimes={"a": TaskStats(1.5, 0.25, 7)}, pool_interruptions={"o1": 3},
                        recent_runs=[RunCost("run1", 2.0, 2.5)])
    text = build_prompt(manifest([job("a")], _offers(2)), history=h)
    assert '"a": 1.5 0.25 7' in text and '"o1": 3' in text and '"run1": 2 vs 2.5' in text


def test_suitability_section_only_for_tasks_with_measured_history():
    from airflow_ai_scheduler.planning.suitability import TaskEvidence

    m = manifest([job("a", 1.0, deadline_h=2), job("b", 1.0)], [offer("od"), offer("s", "spot", 0.3, lam=0.1)])
    plain = build_prompt(m, history=PlanningHistory())
    assert "# Suitability" not in plain
    ev = TaskEvidence(runtimes_hours=[0.9, 1.0, 1.1, 1.0, 1.2], instance_types=["type-od"] * 5)
    text = build_prompt(m, history=PlanningHistory(evidence={"a": ev}))
    section = text[text.index("# Suitability"):]
    assert '"a" (n=5): "' in section and '"b" (n=' not in section and "P(miss)" in section
    assert text == build_prompt(m, history=PlanningHistory(evidence={"a": ev}))  # deterministic
