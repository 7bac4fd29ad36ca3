from __future__ import annotations

from factories import job

from airflow_ai_scheduler.airflow.routing import descendants


def test_descendants_count_everything_downstream_once():
    jobs = {j.job_id: j for j in (job("a"), job("b", deps=["a"]), job("c", deps=["a"]), job("d", deps=["b", "c"]),
                                  job("e"))}
    assert descendants(jobs) == {"a": 3, "b": 1, "c": 1, "d": 0, "e": 0}
    assert descendants(jobs) is descendants(jobs)  # cached for the same mapping


def test_a_long_chain_does_not_recurse():
    jobs = {f"j{i}": job(f"j{i}", deps=[f"j{i - 1}"] if i else []) for i in range(3000)}
    counts = descendants(jobs)
    assert counts["j0"] == 2999 and counts["j2999"] == 0
