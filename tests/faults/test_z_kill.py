"""The scheduler SIGKILLed while tasks run on local fleets (last: it restarts the scheduler)."""

from __future__ import annotations

import time


def _running(af, dag_id, run_id):
    return {t["task_id"] for t in af.task_instances(dag_id, run_id) if t["state"] == "running"}


def test_scheduler_sigkill_mid_run(faults_af, fault):
    fault("scheduler SIGKILL mid-run (local fleets)")
    af = faults_af
    run_id = af.trigger("f_kill")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and _running(af, "f_kill", run_id) != {"short", "long"}:
        time.sleep(0.5)
    assert _running(af, "f_kill", run_id) == {"short", "long"}
    af.kill("scheduler")
    af.start_component("scheduler")
    # documented: a local fleet cannot adopt a dead scheduler's task; Airflow resets it and runs it again
    tis = {t["task_id"]: t for t in af.clean_run("f_kill", run_id, timeout=300, max_try=2)}
    assert tis["short"]["try_number"] == 1  # it ended on the dead scheduler's worker: not run again
    assert tis["long"]["try_number"] == 2 and tis["after"]["try_number"] == 1
    assert af.xcom("f_kill", run_id, "after") == "short 2"
    # every try has its row: the one the orphaned worker finished, the reset one, and the rest
    want = [("after", 1, "success"), ("long", 1, "reset"), ("long", 2, "success"), ("short", 1, "success")]
    rows = af.wait_history("f_kill", run_id, lambda rs: sorted((r["task_id"], r["try_number"], r["outcome"])
                                                               for r in rs) == want, timeout=120)
    by = {(r["task_id"], r["try_number"]): r for r in rows}
    reset = by[("long", 1)]
    assert reset["fleet"] in ("local-spot", "local-on-demand") and reset["runtime_seconds"] >= 10
    assert reset["actual_cost"] > 0 and by[("short", 1)]["runtime_seconds"] >= 7
    fault.result(f"run succeeds; the task that ended on the orphaned worker ran once (try 1, recorded); the "
                 f"running one was reset and ran again as try 2, the killed try recorded 'reset' "
                 f"({reset['runtime_seconds']:.0f} s, ${reset['actual_cost']:.6f} on {reset['fleet']})")
