"""``ai-scheduler prices``: query the price catalog; ``prices refresh``: build a refreshed one from the clouds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_ai_scheduler.catalog import Catalog, CatalogRow

#: providers with a live fetcher in airflow_ai_scheduler.catalog.fetchers
REFRESHABLE = ("aws", "gcp", "azure")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prices", help="list catalog prices (bundled snapshot, or --catalog FILE)")
    p.add_argument("action", nargs="?", choices=["list", "refresh"], default="list")
    p.add_argument("--provider", action="append", help="aws | gcp | azure (repeatable)")
    p.add_argument("--region", action="append", help="region or provider:region (repeatable)")
    p.add_argument("--tier", choices=["spot", "on-demand"])
    p.add_argument("--gpu", help="GPU type, e.g. A100 (matches A100-80GB too)")
    p.add_argument("--min-vcpus", type=float, default=0)
    p.add_argument("--min-memory", type=float, default=0, help="GiB")
    p.add_argument("--catalog", type=Path, help="a refreshed catalog CSV instead of the bundled snapshot")
    p.add_argument("--output", "-o", type=Path, help="refresh: where to write the refreshed catalog")
    p.add_argument("--instance-type", action="append",
                   help="refresh: price only these types (repeatable; default: the catalog's types)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prices)


def _catalog(path: Path | None) -> Catalog:
    from airflow_ai_scheduler.catalog import bundled_catalog, load_catalog
    from airflow_ai_scheduler.exceptions import CatalogError, ConfigError

    if path is None:
        return bundled_catalog()
    try:
        return load_catalog(path)
    except CatalogError as exc:  # a bad --catalog is bad input (exit 2), not an internal failure
        raise ConfigError(f"--catalog: {exc}") from None


def cmd_prices(args: argparse.Namespace) -> int:
    if args.action == "refresh":
        return cmd_refresh(args)
    cat = _catalog(args.catalog)
    found: dict[int, CatalogRow] = {}  # by identity: overlapping --region forms must not list a row twice
    for provider in args.provider or [None]:
        for region in args.region or [None]:
            for r in cat.query(provider=provider, region=region, tier=args.tier, gpu_type=args.gpu,
                               min_vcpus=args.min_vcpus, min_memory_gib=args.min_memory):
                found.setdefault(id(r), r)
    rows = list(found.values())
    rows.sort(key=lambda r: (r.provider, r.region, r.on_demand_usd_per_hour, r.instance_type))
    if args.json:
        print(json.dumps([{**r.to_csv(), "notes": cat.notes_for(r)} for r in rows], indent=2))
        return 0
    print_table(rows, cat)
    return 0


def print_table(rows: list[CatalogRow], cat: Catalog) -> None:
    """Aligned table (numbers right-aligned), then the notes that concern the listed rows."""
    from airflow_ai_scheduler.catalog import UNKNOWN_BAND

    header = ("provider", "region", "instance", "vCPU", "GiB", "GPU", "on-demand $/h", "spot $/h", "saving",
              "interruptions")
    numeric = {3, 4, 6, 7, 8}
    table = [header]
    notes: dict[str, int] = {}
    marks: list[str] = []
    for r in rows:
        sp = r.spot_usd_per_hour if r.has_spot else None
        spot = "-" if sp is None else f"{sp:.4f}"
        saving = "-" if sp is None else f"{100 * (1 - sp / r.on_demand_usd_per_hour):.0f} %"
        gpu = f"{r.gpus}x {r.gpu_type}" if r.gpus else ""
        band = (r.interruption_band or f"{UNKNOWN_BAND} assumed") if r.has_spot else "-"
        refs = [notes.setdefault(n, len(notes) + 1) for n in cat.notes_for(r)]
        marks.append("".join(f" [{i}]" for i in refs))
        table.append((r.provider, r.region, r.instance_type, f"{r.vcpus:g}", f"{r.memory_gib:g}", gpu,
                      f"{r.on_demand_usd_per_hour:.4f}", spot, saving, band))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row, mark in zip(table, ["", *marks], strict=True):
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        print(("  ".join(cells) + mark).rstrip())
    print(f"\n{len(rows)} instance types from {cat.path}")
    for note, i in notes.items():
        print(f"[{i}] {note}")


def cmd_refresh(args: argparse.Namespace) -> int:
    """Live prices (network + credentials: boto3 chain for AWS, a key/token env var for GCP, none for
    Azure) merged over ``--catalog`` or the bundled snapshot, written to ``--output``."""
    from airflow_ai_scheduler.catalog import fetchers as fetcher_mod
    from airflow_ai_scheduler.catalog.refresh import refresh_catalog
    from airflow_ai_scheduler.exceptions import ConfigError

    if args.output is None:
        raise ConfigError("prices refresh needs --output FILE (the bundled catalog is never overwritten)")
    base = _catalog(args.catalog)
    providers = args.provider or list(dict.fromkeys(r.provider for r in base.rows))
    unknown = sorted(set(providers) - set(REFRESHABLE))
    if unknown:
        raise ConfigError(f"--provider: no live price fetcher for {unknown}; choose from {list(REFRESHABLE)}")
    fetchers = fetcher_mod.default_fetchers(providers, base)
    path, count = refresh_catalog(args.output, fetchers, base=base, regions=args.region,
                                  instance_types=args.instance_type)
    print(f"wrote {count} rows ({', '.join(providers)} refreshed) to {path}")
    print(f"use it with: ai-scheduler prices --catalog {path}   or [ai_scheduler] catalog_path = {path}")
    return 0
