"""Measure what one task try uses, from inside the task's own process (no Airflow import).

:class:`UsageMonitor` is started when the task starts and stopped when it ends, in the process that runs
the task (Airflow's task runner), so it works wherever the task runs — a local fleet's worker, a Celery
worker, an Edge worker — without code in any fleet's worker loop.

* **CPU seconds** — user + system time of the process (all its threads) and of its children, from
  ``getrusage`` (``RUSAGE_SELF`` and ``RUSAGE_CHILDREN``, the latter counting children the task waited
  for), plus children still alive at the end (psutil; a child already alive at start counts only what it
  used after). Deltas between start and stop.
* **Peak memory** — the largest of: the kernel's high-water mark of the process's resident set
  (``VmHWM``, reset to the current RSS at start through ``/proc/self/clear_refs``, so it catches spikes
  between samples), the largest waited-for child's peak (``ru_maxrss`` of ``RUSAGE_CHILDREN``), and the
  sampled sum of RSS over the process tree (psutil, every ``interval`` seconds: several children at once).
  It includes the task runner's own footprint (Airflow and the DAG file: typically 150–300 MiB), which a
  machine running the task must hold too.
* **GPU memory** — peak of the memory NVML reports for the tree's processes (when ``pynvml`` imports
  and a GPU is present), or of ``torch.cuda.max_memory_reserved`` when the task used torch; None when
  neither can tell.
* **I/O bytes** — bytes the process and its waited-for children read from and wrote to storage
  (``read_bytes``/``write_bytes`` of ``/proc/self/io``: what reaches the block layer, the same quantity
  cgroup ``io.stat`` counts; reads served from the page cache are not I/O), plus live children's.

Every source is optional: a platform without ``/proc`` (macOS) still gets CPU seconds and the sampled peak.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import threading
import time
from typing import Any

from pydantic import BaseModel, Field

MIB = 1024 * 1024
#: XCom key the task runner writes a try's usage under (read by the scheduler's recorder)
USAGE_XCOM_KEY = "ai_scheduler_usage"


class TaskUsage(BaseModel):
    """What one try used (JSON-able: it travels as an XCom value)."""

    cpu_seconds: float = Field(ge=0, description="user + system CPU seconds of the task process and its children")
    peak_memory_mib: float = Field(ge=0, description="peak resident memory of the task's process tree, MiB")
    gpu_memory_mib: float | None = Field(None, ge=0, description="peak GPU memory, MiB (None: not measurable)")
    io_read_bytes: int | None = Field(None, ge=0, description="bytes read from storage (None: not measurable)")
    io_write_bytes: int | None = Field(None, ge=0, description="bytes written to storage (None: not measurable)")
    wall_seconds: float = Field(ge=0, description="seconds between the start and the end of the measurement")
    samples: int = Field(0, ge=0, description="how many times the process tree was sampled")
    try_number: int | None = Field(None, description="the try this measures (guards against a stale value)")
    source: str = Field("task-runner", description="what measured it")

    @property
    def cpu_cores(self) -> float:
        """Average cores busy over the measurement (CPU seconds / wall seconds)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _rusage() -> tuple[float, float, float]:
    """(CPU s of self, CPU s of waited-for children, max RSS MiB of the largest waited-for child)."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime, c.ru_maxrss * scale / MIB


def _proc_status_hwm_mib() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux ≥ 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _proc_io() -> tuple[int, int] | None:
    try:
        with open("/proc/self/io") as fh:
            vals = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(vals["read_bytes"]), int(vals["write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


class _Gpu:
    """GPU memory of a set of pids through NVML; inert when pynvml or a GPU is missing."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.nvml: Any = None
        try:
            import pynvml  # optional: nvidia-ml-py

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self.nvml = pynvml
        except Exception:  # no library, no driver, no GPU
            self.handles = []

    @property
    def available(self) -> bool:
        return bool(self.handles)

    def used_mib(self, pids: set[int]) -> float:
        total = 0
        for h in self.handles:
            try:
                procs = self.nvml.nvmlDeviceGetComputeRunningProcesses(h)
            except Exception:
                continue
            total += sum(p.usedGpuMemory or 0 for p in procs if p.pid in pids)
        return total / MIB


def _torch_peak_mib() -> float | None:
    torch = sys.modules.get("torch")  # only when the task itself used torch: never import it here
    try:
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return None
        return sum(torch.cuda.max_memory_reserved(d) for d in range(torch.cuda.device_count())) / MIB
    except Exception:
        return None


class UsageMonitor:
    """``m = UsageMonitor(); m.start(); ...the task...; usage = m.stop()``. Sampling runs in a daemon thread."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.peak_tree_mib = 0.0
        self.peak_gpu_mib = 0.0
        self.samples = 0
        self.started = False

    def start(self) -> UsageMonitor:
        self._t0 = time.monotonic()
        self._cpu0, self._ccpu0, self._cmax0 = _rusage()
        self._io0 = _proc_io()
        self._hwm_reset = _reset_hwm()
        try:
            import psutil

            self._proc: Any = psutil.Process()
        except Exception:  # psutil ships with Airflow; still, never fail a task over a measurement
            self._proc = None
        self._gpu = _Gpu()
        self._before = self._children_usage()  # children that predate the task: only their growth counts
        self._sample()
        self._thread = threading.Thread(target=self._run, name="ai-scheduler-usage", daemon=True)
        self._thread.start()
        self.started = True
        return self

    def _tree(self) -> list[Any]:
        if self._proc is None:
            return []
        try:
            return [self._proc, *self._proc.children(recursive=True)]
        except Exception:
            return [self._proc]

    def _sample(self) -> None:
        procs = self._tree()
        rss = 0
        for p in procs:
            with contextlib.suppress(Exception):  # a child may exit between listing and reading it
                rss += p.memory_info().rss
        gpu = self._gpu.used_mib({p.pid for p in procs}) if self._gpu.available else 0.0
        with self._lock:
            self.peak_tree_mib = max(self.peak_tree_mib, rss / MIB)
            self.peak_gpu_mib = max(self.peak_gpu_mib, gpu)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except Exception:  # keep sampling; a measurement never fails the task
                continue

    def _children_usage(self) -> dict[tuple[int, float], tuple[float, int, int, bool]]:
        """(pid, create time) → (CPU s, read bytes, write bytes, io known) of each live child now."""
        out = {}
        for p in self._tree()[1:]:
            try:
                key = (p.pid, p.create_time())
                t = p.cpu_times()
            except Exception:  # gone between listing and reading it
                continue
            try:
                io = p.io_counters()
                out[key] = (t.user + t.system, io.read_bytes, io.write_bytes, True)
            except Exception:
                out[key] = (t.user + t.system, 0, 0, False)
        return out

    def _live_children(self) -> tuple[float, int, int, bool]:
        """(CPU s, read bytes, write bytes, io known) of children alive now (not in rusage yet), less what
        each had used when the measurement started (a child that predates the task counts its growth)."""
        cpu, rb, wb, io_known = 0.0, 0, 0, True
        for key, (c, r, w, known) in self._children_usage().items():
            c0, r0, w0, _ = self._before.get(key, (0.0, 0, 0, True))
            cpu += max(0.0, c - c0)
            rb, wb = rb + max(0, r - r0), wb + max(0, w - w0)
            io_known = io_known and known
        return cpu, rb, wb, io_known

    def stop(self, try_number: int | None = None) -> TaskUsage:
        if not self.started:
            raise RuntimeError("UsageMonitor.stop() before start()")
        self._stop.set()
        with contextlib.suppress(Exception):
            self._sample()  # the tree as it is at the end
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval + 1)
        wall = time.monotonic() - self._t0
        cpu, ccpu, cmax = _rusage()
        live_cpu, live_rb, live_wb, live_io = self._live_children()
        peaks = [self.peak_tree_mib]
        hwm = _proc_status_hwm_mib() if self._hwm_reset else None
        if hwm is not None:
            peaks.append(hwm)
        if cmax > self._cmax0:  # a child the task waited for peaked higher than any before the task
            peaks.append(cmax)
        io1 = _proc_io()
        read = write = None
        if io1 is not None and self._io0 is not None and live_io:
            read = max(0, io1[0] - self._io0[0]) + live_rb
            write = max(0, io1[1] - self._io0[1]) + live_wb
        gpu: float | None = self.peak_gpu_mib if self._gpu.available else None
        torch_peak = _torch_peak_mib()
        if torch_peak is not None:
            gpu = max(gpu or 0.0, torch_peak)
        return TaskUsage(
            cpu_seconds=round(max(0.0, cpu - self._cpu0) + max(0.0, ccpu - self._ccpu0) + live_cpu, 3),
            peak_memory_mib=round(max(peaks), 1), gpu_memory_mib=None if gpu is None else round(gpu, 1),
            io_read_bytes=read, io_write_bytes=write, wall_seconds=round(wall, 3), samples=self.samples,
            try_number=try_number,
        )
