"""Prices: the bundled snapshot of AWS, GCP and Azure on-demand and spot prices, and refreshed copies of it.

The snapshot (``data/offers.csv``, sources in ``data/PROVENANCE.md``) is read lazily, once. Logic is plain
functions over its rows: :meth:`Catalog.query` filters them, :meth:`Catalog.offers` turns them into the
manifest's :class:`~airflow_ai_scheduler.models.Offer` objects. Live fetchers (``catalog.fetchers``) build
refreshed catalogs with the same columns; :func:`load_catalog` reads one.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

from airflow_ai_scheduler.exceptions import CatalogError
from airflow_ai_scheduler.models import Offer
from airflow_ai_scheduler.planning.candidates import _gpu_matches as gpu_matches

BUNDLED_PATH = Path(__file__).parent / "data" / "offers.csv"
#: per-row caveats of the bundled snapshot (provider, region, instance_type, note); region and type may
#: be shell patterns (``*``, ``g6.*``) and the type may list several patterns separated by ``/``
BUNDLED_NOTES_PATH = BUNDLED_PATH.parent / "offers_notes.csv"
COLUMNS = ("provider", "region", "instance_type", "vcpus", "memory_gib", "gpu_name", "gpu_count",
           "on_demand_usd_per_hour", "spot_usd_per_hour", "interruption_band", "source", "as_of")

#: AWS Spot Advisor "frequency of interruption" bands (share of instances interrupted in a month), by
#: the band's midpoint (25 % for the open-ended top band).
BAND_MONTHLY_FREQUENCY = {"<5%": 0.025, "5-10%": 0.075, "10-15%": 0.125, "15-20%": 0.175, ">20%": 0.25}
#: For spot rows with no published band (GCP, Azure, a few AWS types) we assume the worst AWS band:
#: GCP and Azure publish no per-type rate, and under-estimating interruptions is the costly mistake.
UNKNOWN_BAND = ">20%"
HOURS_PER_MONTH = 730.0


def interruption_rate(band: str | None) -> float:
    """Poisson rate λ (per hour) implied by a monthly interruption frequency f: λ = −ln(1 − f) / 730.

    The Spot Advisor band is the share of instances of a type interrupted over a month (730 h). If
    interruptions arrive as a Poisson process of rate λ, the chance an instance survives the month is
    exp(−730 λ) = 1 − f, hence the formula. Unknown or missing bands get :data:`UNKNOWN_BAND`.
    """
    f = BAND_MONTHLY_FREQUENCY.get((band or "").strip() or UNKNOWN_BAND, BAND_MONTHLY_FREQUENCY[UNKNOWN_BAND])
    return -math.log1p(-f) / HOURS_PER_MONTH


#: canonical GPU names; a memory or form-factor variant keeps its suffix only where it changes the price
#: class (A100-80GB, V100-32GB, H100-MEGA), so ``gpu_matches("A100", "A100-80GB")`` still holds.
GPU_NAMES = ("A100-80GB", "A100", "H100-MEGA", "H100", "H200", "B200", "V100-32GB", "V100", "T4", "L4", "L40S",
             "L40", "A10G", "A10", "A30", "A40", "K80", "P100", "P4", "RTX6000", "MI300X")
_GPU_NOISE = {"NVIDIA", "TESLA", "SXM2", "SXM4", "SXM5", "PCIE", "NVL", "GB", "AMD", "RADEON", "INSTINCT"}


def normalise_gpu_name(name: str | None) -> str | None:
    """``nvidia-tesla-v100`` / ``Tesla V100`` / ``V100`` → ``V100``; ``nvidia-a100-80gb`` → ``A100-80GB``.

    Clouds spell accelerators differently (GCP ``nvidia-h100-mega-80gb``, AWS ``A10G``, Azure ``A100``);
    plans match on these names, so every row goes through here. Unknown names are upper-cased and kept.
    """
    if not name or not name.strip():
        return None
    tokens = [t for t in re.split(r"[-_ ]+", name.strip().upper()) if t and t not in _GPU_NOISE]
    if not tokens:
        return None
    chip, rest = tokens[0], tokens[1:]
    if chip == "H100":  # every H100 has 80 GB; only the Mega (A3 Mega) variant is a different offer
        return "H100-MEGA" if "MEGA" in rest else "H100"
    for suffix in ("80GB", "32GB"):
        if suffix in rest and f"{chip}-{suffix}" in GPU_NAMES:
            return f"{chip}-{suffix}"
    return chip if chip in GPU_NAMES else "-".join(tokens)


@dataclass(frozen=True)
class CatalogRow:
    provider: str
    region: str
    instance_type: str
    vcpus: float
    memory_gib: float
    gpu_type: str | None
    gpus: int
    on_demand_usd_per_hour: float
    spot_usd_per_hour: float | None
    interruption_band: str | None
    source: str = ""
    as_of: str = ""

    @property
    def has_spot(self) -> bool:
        """Spot is usable: priced, and below on-demand (equal means capped or unavailable)."""
        return self.spot_usd_per_hour is not None and self.spot_usd_per_hour < self.on_demand_usd_per_hour

    def to_csv(self) -> dict[str, str]:
        """The row as the CSV's columns; numbers written so that reading them back gives the same floats."""
        return {"provider": self.provider, "region": self.region, "instance_type": self.instance_type,
                "vcpus": _num(self.vcpus), "memory_gib": _num(self.memory_gib), "gpu_name": self.gpu_type or "",
                "gpu_count": str(self.gpus or ""), "on_demand_usd_per_hour": _num(self.on_demand_usd_per_hour),
                "spot_usd_per_hour": "" if self.spot_usd_per_hour is None else _num(self.spot_usd_per_hour),
                "interruption_band": self.interruption_band or "", "source": self.source, "as_of": self.as_of}


def _num(x: float) -> str:
    """Shortest text that reads back as ``x`` (``8``, ``0.34``, ``14.76958``); ``:g`` alone rounds to 6 digits."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def _float(value: str, path: Path, line: int, column: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise CatalogError(f"{path}:{line}: column {column!r} is not a number: {value!r}") from None


def read_rows(path: Path) -> list[CatalogRow]:
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = set(COLUMNS[:9]) - set(reader.fieldnames or ())
            if missing:
                raise CatalogError(f"{path}: missing columns {sorted(missing)}")
            rows = []
            for line, r in enumerate(reader, start=2):
                od = _float(r["on_demand_usd_per_hour"], path, line, "on_demand_usd_per_hour")
                vcpus = _float(r["vcpus"], path, line, "vcpus")
                mem = _float(r["memory_gib"], path, line, "memory_gib")
                if od is None or vcpus is None or mem is None:
                    raise CatalogError(f"{path}:{line}: vcpus, memory_gib and on_demand_usd_per_hour are required")
                rows.append(CatalogRow(
                    provider=r["provider"].strip(), region=r["region"].strip(),
                    instance_type=r["instance_type"].strip(), vcpus=vcpus, memory_gib=mem,
                    gpu_type=normalise_gpu_name(r.get("gpu_name")),
                    gpus=int(_float(r.get("gpu_count", ""), path, line, "gpu_count") or 0),
                    on_demand_usd_per_hour=od,
                    spot_usd_per_hour=_float(r["spot_usd_per_hour"], path, line, "spot_usd_per_hour"),
                    interruption_band=(r.get("interruption_band") or "").strip() or None,
                    source=r.get("source", ""), as_of=r.get("as_of", ""),
                ))
    except OSError as exc:
        raise CatalogError(f"cannot read price catalog {path}: {exc}") from None
    return rows


class Catalog:
    """Rows of one catalog file, in file order (so queries and offers come out in a stable order)."""

    def __init__(self, rows: Iterable[CatalogRow], path: Path | None = None,
                 notes: Iterable[tuple[str, str, str, str]] = ()) -> None:
        self.rows = list(rows)
        self.path = path
        self.notes = list(notes)
        self._offers: dict[tuple, list[Offer]] = {}

    def notes_for(self, row: CatalogRow) -> list[str]:
        """The caveats recorded for ``row`` (suspect source prices, capped spot in some AZs, ...)."""
        from fnmatch import fnmatchcase

        return [note for provider, region, types, note in self.notes
                if provider == row.provider and fnmatchcase(row.region, region)
                and any(fnmatchcase(row.instance_type, t) for t in types.split("/"))]

    def query(self, provider: str | None = None, region: str | None = None, tier: str | None = None,
              gpu_type: str | None = None, min_vcpus: float = 0, min_memory_gib: float = 0,
              min_gpus: int = 0) -> list[CatalogRow]:
        """Rows matching every given filter. ``region`` may be ``us-east-1`` or ``aws:us-east-1``;
        ``tier="spot"`` keeps rows with a usable spot price; ``gpu_type="A100"`` matches A100-80GB too."""
        out = []
        for r in self.rows:
            if provider and r.provider != provider:
                continue
            if region and region not in (r.region, f"{r.provider}:{r.region}"):
                continue
            if tier == "spot" and not r.has_spot:
                continue
            if gpu_type and not gpu_matches(r.gpu_type, gpu_type):
                continue
            if r.vcpus < min_vcpus or r.memory_gib < min_memory_gib or r.gpus < min_gpus:
                continue
            out.append(r)
        return out

    def offers(self, tiers: Sequence[str] = ("spot", "on-demand"), providers: Sequence[str] | None = None,
               regions: Sequence[str] | None = None, capacity: int | None = None) -> list[Offer]:
        """One offer per row and tier; offerId ``provider:region:instance_type:tier``."""
        key = (tuple(tiers), tuple(providers or ()), tuple(regions or ()), capacity)
        cached = self._offers.get(key)
        if cached is not None:
            return list(cached)  # a copy: callers may sort or extend it
        out = []
        for r in self.rows:
            if providers and r.provider not in providers:
                continue
            if regions and r.region not in regions and f"{r.provider}:{r.region}" not in regions:
                continue
            for tier in tiers:
                if tier == "spot" and not r.has_spot:
                    continue
                spot = tier == "spot"
                out.append(Offer(
                    offer_id=f"{r.provider}:{r.region}:{r.instance_type}:{tier}", provider=r.provider,
                    region=r.region, instance_type=r.instance_type, vcpus=r.vcpus, memory_gib=r.memory_gib,
                    gpus=r.gpus, gpu_type=r.gpu_type, tier=tier,  # type: ignore[arg-type]
                    price_per_hour=r.spot_usd_per_hour if spot else r.on_demand_usd_per_hour,  # type: ignore[arg-type]
                    interruption_rate_per_hour=interruption_rate(r.interruption_band) if spot else 0.0,
                    capacity=capacity, price_schedule=None,
                ))
        self._offers[key] = out
        return list(out)


def write_rows(rows: Iterable[CatalogRow], fh: IO[str]) -> int:
    """Write rows with the bundled file's columns; returns how many were written."""
    writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for r in rows:
        writer.writerow(r.to_csv())
        n += 1
    return n


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog CSV (the bundled one, or one written by :func:`~.refresh.refresh_catalog`)."""
    path = Path(path)
    return Catalog(read_rows(path), path)


@lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    """The snapshot shipped with the package (with its notes), read on first use and cached."""
    cat = load_catalog(BUNDLED_PATH)
    try:
        with open(BUNDLED_NOTES_PATH, newline="") as fh:
            cat.notes = [(r["provider"], r["region"], r["instance_type"], r["note"]) for r in csv.DictReader(fh)]
    except (OSError, KeyError) as exc:
        raise CatalogError(f"cannot read price catalog notes {BUNDLED_NOTES_PATH}: {exc}") from None
    return cat


def catalog_from(path: str | Path | None) -> Catalog:
    """The catalog a setting names: ``path`` (e.g. ``[ai_scheduler] catalog_path``) or, if empty, the bundled one.

    A refreshed file is re-read only when its modification time or size changes, so callers that plan
    often (the executor) can call this every time and still pick up a new refresh.
    """
    if not path:
        return bundled_catalog()
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise CatalogError(f"cannot read price catalog {p}: {exc}") from None
    return _cached_catalog(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _cached_catalog(path: str, _mtime_ns: int, _size: int) -> Catalog:
    return load_catalog(path)


__all__ = ["BUNDLED_PATH", "COLUMNS", "Catalog", "CatalogRow", "bundled_catalog", "catalog_from", "gpu_matches",
           "interruption_rate", "load_catalog", "normalise_gpu_name", "write_rows"]
