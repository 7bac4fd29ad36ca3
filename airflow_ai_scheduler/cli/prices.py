"""``ai-scheduler prices``: query the price catalog; ``prices refresh``: build a refreshed one from the clouds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


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
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prices)


def _catalog(path: Path | None):
    from airflow_ai_scheduler.catalog import bundled_catalog, load_catalog

    return load_catalog(path) if path else bundled_catalog()


def cmd_prices(args: argparse.Namespace) -> int:
    if args.action == "refresh":
        return cmd_refresh(args)
    cat = _catalog(args.catalog)
    rows = []
    for provider in args.provider or [None]:
        for region in args.region or [None]:
            rows += cat.query(provider=provider, region=region, tier=args.tier, gpu_type=args.gpu,
                              min_vcpus=args.min_vcpus, min_memory_gib=args.min_memory)
    rows.sort(key=lambda r: (r.provider, r.region, r.on_demand_usd_per_hour))
    if args.json:
        print(json.dumps([r.to_csv() for r in rows], indent=2))
        return 0
    table = [("provider", "region", "instance", "vCPU", "GiB", "GPU", "on-demand $/h", "spot $/h", "saving",
              "interruptions")]
    for r in rows:
        spot = f"{r.spot_usd_per_hour:.4f}" if r.has_spot else "-"
        saving = f"{100 * (1 - r.spot_usd_per_hour / r.on_demand_usd_per_hour):.0f} %" if r.has_spot else "-"
        gpu = f"{r.gpus}x {r.gpu_type}" if r.gpus else ""
        table.append((r.provider, r.region, r.instance_type, f"{r.vcpus:g}", f"{r.memory_gib:g}", gpu,
                      f"{r.on_demand_usd_per_hour:.4f}", spot, saving, r.interruption_band or ""))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(f"\n{len(rows)} instance types from {cat.path}")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from airflow_ai_scheduler.catalog.refresh import default_fetchers, refresh_catalog

    if args.output is None:
        raise ValueError("prices refresh needs --output FILE (the bundled catalog is never overwritten)")
    fetchers = default_fetchers(args.provider or ["aws", "gcp", "azure"])
    path, count = refresh_catalog(args.output, fetchers, regions=args.region)
    print(f"wrote {count} rows to {path}")
    return 0
