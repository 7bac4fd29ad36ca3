"""Carbon: grid intensity per cloud region, an instance power model, and forecasts of intensity over time.

Bundled data (sources, licences and dates in ``data/PROVENANCE.md``), read lazily, once:

* ``data/carbon_intensity.csv`` — grid carbon intensity (g CO2e per kWh) and data-centre PUE per
  provider and region, from Cloud Carbon Footprint's emission factors; a ``*`` row per provider is its
  average for regions the table does not list.
* ``data/instance_power.csv`` — watts per vCPU by processor and per GPU by model (min = idle, max = full
  load), from Cloud Carbon Footprint's coefficients; GPUs it lacks from the vendors' board power.
* ``data/instance_families.csv`` — which processor(s) an instance family runs on (patterns).

An instance draws, at the utilisation :data:`UTILISATION` (CCF's default when none is measured),
``vCPUs · (min + u·(max − min))`` for its processor + ``GPUs · (min + u·(max − min))`` for its GPU +
``memory GiB · MEMORY_WATTS_PER_GIB``; times the region's PUE that is what the data centre draws, and
times the grid's intensity it is the CO2e per hour. Functions here are pure over the tables; the
objective (planning/objective.py) turns them into a kg-CO2e-per-hour curve per offer.
"""

from __future__ import annotations

import csv
import fnmatch
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from airflow_ai_scheduler.exceptions import CatalogError

DATA = Path(__file__).parent / "data"
#: average utilisation assumed while a task runs (CCF's fallback when no utilisation is measured)
UTILISATION = 0.5
#: watts per GiB of memory: CCF's memory coefficient 0.000392 kWh per GB-hour
MEMORY_WATTS_PER_GIB = 0.392
#: intensity (g/kWh) and PUE for a provider the table does not know (e.g. on-premises "local" fleets): the
#: mean of the three clouds' CCF averages for unknown regions, at a PUE of 1.2
FALLBACK_INTENSITY = 402.1
FALLBACK_PUE = 1.2


@dataclass(frozen=True)
class RegionCarbon:
    g_co2e_per_kwh: float
    pue: float
    source: str  # "table", "provider average", "fallback"


@lru_cache(maxsize=1)
def _intensity_table() -> dict[tuple[str, str], tuple[float, float]]:
    out = {}
    with (DATA / "carbon_intensity.csv").open() as f:
        for r in csv.DictReader(f):
            out[r["provider"], r["region"]] = (float(r["g_co2e_per_kwh"]), float(r["pue"]))
    return out


def region_carbon(provider: str, region: str) -> RegionCarbon:
    """Grid intensity and PUE of a cloud region: the table's row, else its provider's average, else the
    fallback (say which in ``source``)."""
    table = _intensity_table()
    row = table.get((provider, region))
    if row is not None:
        return RegionCarbon(row[0], row[1], "table")
    row = table.get((provider, "*"))
    if row is not None:
        return RegionCarbon(row[0], row[1], "provider average")
    return RegionCarbon(FALLBACK_INTENSITY, FALLBACK_PUE, "fallback")


@lru_cache(maxsize=1)
def _power_table() -> dict[tuple[str, str], tuple[float, float]]:
    with (DATA / "instance_power.csv").open() as f:
        return {(r["kind"], r["name"]): (float(r["min_watts"]), float(r["max_watts"])) for r in csv.DictReader(f)}


@lru_cache(maxsize=1)
def _families() -> list[tuple[str, str, tuple[str, ...]]]:
    with (DATA / "instance_families.csv").open() as f:
        return [(r["provider"], r["pattern"], tuple(r["processors"].split())) for r in csv.DictReader(f)]


def _watts(lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return lo + UTILISATION * (hi - lo)


@lru_cache(maxsize=4096)
def watts_per_vcpu(provider: str, instance_type: str) -> float:
    """Average watts per vCPU while running: the family's processor(s) averaged, else the provider's."""
    table = _power_table()
    for p, pattern, processors in _families():
        if p == provider and fnmatch.fnmatchcase(instance_type, pattern):
            known = [_watts(table["cpu", c]) for c in processors if ("cpu", c) in table]
            if known:
                return sum(known) / len(known)
    return _watts(table.get(("cpu", f"{provider}:*"), table["cpu", "aws:*"]))


def watts_per_gpu(gpu_type: str | None) -> float:
    """Average watts of one GPU while running; an unknown model counts as an A100 (say so in docs)."""
    table = _power_table()
    return _watts(table.get(("gpu", gpu_type or ""), table["gpu", "A100"]))


def instance_watts(provider: str, instance_type: str, vcpus: float, memory_gib: float, gpus: int = 0,
                   gpu_type: str | None = None) -> float:
    """Average watts an instance draws while a task runs on it (before PUE)."""
    watts = vcpus * watts_per_vcpu(provider, instance_type) + memory_gib * MEMORY_WATTS_PER_GIB
    if gpus:
        watts += gpus * watts_per_gpu(gpu_type)
    return watts


@dataclass(frozen=True)
class IntensityPoint:
    """From ``at`` on (until the next point), the grid of ``location`` emits ``g_co2e_per_kwh``."""

    location: str
    at: datetime
    g_co2e_per_kwh: float


def load_forecast(path: str | Path) -> list[dict[str, object]]:
    """A carbon-intensity forecast CSV (``location,from,g_co2e_per_kwh``; ISO-8601 times with a zone) as the
    manifest's ``carbonForecast`` entries. Errors name the file, the line and the column."""
    path = Path(path)
    out: list[dict[str, object]] = []
    try:
        with path.open() as f:
            reader = csv.DictReader(f)
            missing = {"location", "from", "g_co2e_per_kwh"} - set(reader.fieldnames or [])
            if missing:
                raise CatalogError(f"{path}: missing column(s) {sorted(missing)}; expected "
                                   "location,from,g_co2e_per_kwh")
            for line, r in enumerate(reader, start=2):
                try:
                    at = datetime.fromisoformat(r["from"])
                    g = float(r["g_co2e_per_kwh"])
                except (TypeError, ValueError) as exc:
                    raise CatalogError(f"{path}:{line}: {exc}") from None
                if at.tzinfo is None:
                    raise CatalogError(f"{path}:{line}: 'from' needs a timezone, e.g. 2026-11-23T06:00:00+00:00")
                out.append({"location": r["location"], "from": at.isoformat(), "gCo2ePerKwh": g})
    except OSError as exc:
        raise CatalogError(f"carbon forecast {path}: {exc}") from None
    return out
