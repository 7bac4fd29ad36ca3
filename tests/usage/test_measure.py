"""The usage monitor measures this very process and its children (real allocations, real CPU)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from airflow_ai_scheduler.usage.measure import TaskUsage, UsageMonitor

MIB = 1024 * 1024


def _burn(cpu_seconds: float) -> int:
    t0, n = time.process_time(), 0
    while time.process_time() - t0 < cpu_seconds:
        n += 1
    return n


def test_cpu_and_peak_memory_of_this_process():
    baseline = UsageMonitor(interval=0.05).start().stop().peak_memory_mib
    m = UsageMonitor(interval=0.05).start()
    held = b"x" * (200 * MIB)  # filled: resident
    _burn(0.5)
    del held  # freed before stop: only the high-water mark or a sample can have seen it
    usage = m.stop(try_number=3)
    assert 0.45 <= usage.cpu_seconds <= 3.0
    assert usage.peak_memory_mib >= baseline + 190
    assert usage.try_number == 3 and usage.wall_seconds > 0 and usage.samples >= 1
    assert usage.gpu_memory_mib is None  # no GPU here and no torch


def test_children_count_cpu_and_memory():
    m = UsageMonitor(interval=0.05).start()
    code = ("import time\nb = b'x' * (150 * 1024 * 1024)\nt = time.process_time()\n"
            "while time.process_time() - t < 0.4: pass\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    usage = m.stop()
    assert usage.cpu_seconds >= 0.4  # the child's CPU, counted once it was waited for
    assert usage.peak_memory_mib >= 150


def test_io_bytes_written_to_storage(tmp_path):
    m = UsageMonitor().start()
    path = tmp_path / "blob"
    with open(path, "wb") as fh:
        fh.write(b"y" * (8 * MIB))
        fh.flush()
        import os

        os.fsync(fh.fileno())
    usage = m.stop()
    if usage.io_write_bytes is None:
        pytest.skip("no /proc/self/io on this platform")
    assert usage.io_write_bytes >= 8 * MIB


def test_usage_round_trips_as_json():
    u = TaskUsage(cpu_seconds=2.0, peak_memory_mib=512.0, wall_seconds=4.0, try_number=1)
    assert TaskUsage.model_validate(u.model_dump(mode="json")) == u
    assert u.cpu_cores == 0.5


def test_stop_before_start_is_an_error():
    with pytest.raises(RuntimeError):
        UsageMonitor().stop()


def test_a_child_alive_before_the_start_counts_only_what_it_uses_after():
    """A long-lived child (a server the process started earlier) brings its past CPU time with it."""
    code = ("import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
            "print('ready', flush=True)\nsys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"  # 0.6 s of CPU used before the measurement
        m = UsageMonitor(interval=0.05).start()
        _burn(0.2)
        usage = m.stop()
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    assert 0.15 <= usage.cpu_seconds < 0.55
