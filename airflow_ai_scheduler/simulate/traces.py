"""Spot traces from the Can't Be Late (NSDI'24) data set, bundled under ``data/spot-traces`` (see PROVENANCE.md).

File format: ``{"metadata": {"gap_seconds": N}, "data": [...]}``; each value is a count at one tick, and a
value > 0 means spot capacity can be had (availability traces) or an instance is held (preemption traces
count the instances held: a fall to 0 is a preemption, the 0s after it the wait for a relaunch; see
PROVENANCE.md). Both are therefore read the same way: a boolean "spot usable" per tick of ``gap_seconds``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from airflow_ai_scheduler.exceptions import ConfigError

DATA_DIR = Path(__file__).parent / "data" / "spot-traces"
DEFAULT_TRACE_SET = "availability/1-node/aws-02-15-2023"


@dataclass(frozen=True)
class Trace:
    name: str
    gap_seconds: float
    available: tuple[bool, ...]

    @property
    def step_hours(self) -> float:
        return self.gap_seconds / 3600.0

    def at(self, tick: int) -> bool:
        """Availability at ``tick``; traces wrap around so any start offset can run a long job."""
        return self.available[tick % len(self.available)]


def load_trace(path: str | Path, name: str | None = None) -> Trace:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        gap = float(raw["metadata"]["gap_seconds"])
        data = raw["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"spot trace {path}: not a trace file ({exc})") from None
    if gap <= 0 or not data:
        raise ConfigError(f"spot trace {path}: gap_seconds must be > 0 and data non-empty")
    return Trace(name or path.stem, gap, tuple(float(v) > 0 for v in data))


def trace_names(kind: str = DEFAULT_TRACE_SET) -> list[str]:
    """Names (``<set>/<zone file stem>``) of the bundled traces under ``kind`` (a folder under data/)."""
    return sorted(f"{kind}/{p.stem}" for p in (DATA_DIR / kind).glob("*.json"))


def get_traces(spec: str = "all") -> list[Trace]:
    """``all`` (the 1-node AWS V100 availability set), a bundled name, a folder under data/, or a file path."""
    if spec == "all":
        spec = DEFAULT_TRACE_SET
    if Path(spec).is_file():
        return [load_trace(spec)]
    folder = DATA_DIR / spec
    if folder.is_dir():
        return [load_trace(p, f"{spec}/{p.stem}") for p in sorted(folder.rglob("*.json"))]
    file = DATA_DIR / f"{spec}.json"
    if file.is_file():
        return [load_trace(file, spec)]
    matches = [n for n in trace_names() if n.endswith(spec)]
    if len(matches) == 1:
        return [load_trace(DATA_DIR / f"{matches[0]}.json", matches[0])]
    raise ConfigError(f"--trace {spec!r}: no such bundled trace; try 'all' or one of {trace_names()}")
