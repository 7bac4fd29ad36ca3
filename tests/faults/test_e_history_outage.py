"""The history tables unavailable for a while: tasks run regardless, rows are written when they are back."""

from __future__ import annotations

import time

TABLES = ("ai_scheduler_task_history", "ai_scheduler_plan")


def test_history_tables_unavailable_for_a_while(faults_af, fault):
    fault("history tables unavailable for a while")
    af = faults_af
    for t in TABLES:
        af.sql(f"ALTER TABLE {t} RENAME TO {t}_away")
    try:
        run_id = af.trigger("f_chain")
        af.clean_run("f_chain", run_id)
        time.sleep(3)  # the rows of the last task are tried (and kept) too
    finally:
        for t in TABLES:
            af.sql(f"ALTER TABLE {t}_away RENAME TO {t}")
    log = af.logs("scheduler")
    assert "history database unavailable" in log or "history store unavailable" in log
    # the kept rows are written once the tables are back (the executor retries every refresh)
    rows = af.wait_history("f_chain", run_id, lambda rs: len(rs) >= 3, timeout=120)
    assert sorted((r["task_id"], r["try_number"], r["outcome"]) for r in rows) == [
        ("first", 1, "success"), ("second", 1, "success"), ("third", 1, "success")]
    assert all(r["actual_cost"] > 0 for r in rows)
    fault.result("run succeeds; the scheduler log says the history database is unavailable; the 3 rows "
                 "are written when the tables are back (the run's plan, made meanwhile, is not stored)")
