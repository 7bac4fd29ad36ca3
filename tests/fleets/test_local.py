"""The local process fleet's workers, as processes: they do not outlive a scheduler that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from procutil import alive

SCRIPT = textwrap.dedent("""
    import sys, time
    from airflow_ai_scheduler.fleets.base import parse_fleets
    from airflow_ai_scheduler.fleets.local import LocalProcessFleet

    (spec,) = parse_fleets([{"name": "f", "provider": "aws", "region": "us-east-1",
                             "instance_type": "m6i.xlarge", "tier": "spot", "slots": 2}])
    fleet = LocalProcessFleet(spec)
    fleet.start()
    print(" ".join(str(p.pid) for p in fleet.workers), flush=True)
    time.sleep(600)
""")


def test_idle_workers_exit_when_the_scheduler_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)  # as a crashed or OOM-killed scheduler
        parent.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.2)
        assert not any(alive(p) for p in pids), "fleet workers outlived their scheduler"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in pids if "pids" in locals() else []:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
