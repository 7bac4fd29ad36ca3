"""p95 round-trip latency between cloud regions, for latency SLAs (a task that serves or reads from an
endpoint region must run within ``maxLatencyMs`` of it).

``data/region_latency_p95.csv`` is built by ``scripts/build_latency_table.py`` from the region coordinates
in ``data/regions.csv`` and a distance model calibrated on published measurements (data/PROVENANCE.md): an
*estimate* meant to be conservative, which a manifest overrides per pair with measured values
(``latency``). Lookups are symmetric; within one location the latency is the table's same-region value.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
#: p95 between zones of one region (IBM Cloud's published inter-zone averages are 1-2.4 ms)
SAME_REGION_MS = 3.0


@lru_cache(maxsize=1)
def bundled_latency() -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    with (DATA / "region_latency_p95.csv").open() as f:
        for r in csv.DictReader(f):
            out[r["from"], r["to"]] = out[r["to"], r["from"]] = float(r["p95_ms"])
    return out


@lru_cache(maxsize=1)
def known_locations() -> frozenset[str]:
    with (DATA / "regions.csv").open() as f:
        return frozenset(f"{r['provider']}:{r['region']}" for r in csv.DictReader(f))


class LatencyTable:
    """p95 ms between two ``provider:region`` locations: a manifest's overrides, else the bundled table."""

    def __init__(self, overrides: Iterable[tuple[str, str, float]] = ()) -> None:
        self._overrides: dict[tuple[str, str], float] = {}
        for a, b, ms in overrides:
            self._overrides[a, b] = self._overrides[b, a] = ms

    def p95_ms(self, a: str, b: str) -> float | None:
        """None when neither the overrides nor the bundled table know the pair."""
        ms = self._overrides.get((a, b))
        if ms is not None:
            return ms
        if a == b:
            return SAME_REGION_MS
        return bundled_latency().get((a, b))
