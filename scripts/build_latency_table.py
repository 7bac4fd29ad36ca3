"""Build airflow_ai_scheduler/catalog/data/region_latency_p95.csv (re-runnable; reads only files in the repo).

No public source measures p95 round-trip latency between the regions of all three clouds, so the table is a
model calibrated on measurements: round-trip ms = a + b · great-circle km, fitted by least squares to a
published inter-region matrix (IBM Cloud VPC's network latency dashboard, 55 metro pairs on four continents,
monthly averages; scripts/data/). A table value is the fit times k, the 95th percentile of measured / fitted
over the calibration pairs of its route class (direct, or a detour: Europe/South America to Asia/Oceania,
whose cables go round), so 95 % of the measured averages lie at or below it. Region
coordinates: catalog/data/regions.csv. Same-location pairs get SAME_REGION_MS. See catalog/data/PROVENANCE.md.

    uv run python scripts/build_latency_table.py
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "airflow_ai_scheduler" / "catalog" / "data"
MATRIX = Path(__file__).parent / "data" / "ibm_vpc_inter_region_latency_2025-08-17.csv"
CITIES = Path(__file__).parent / "data" / "ibm_vpc_cities.csv"
#: within one region (between zones): IBM's inter-AZ averages are 1-2.4 ms; p95 rounded up
SAME_REGION_MS = 3.0


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (la1, lo1), (la2, lo2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _rows(path: Path) -> list[list[str]]:
    return [r for r in csv.reader(line for line in path.open() if not line.startswith("#"))]


#: continents whose traffic to each other detours (Europe and South America to Asia/Oceania go round by
#: Suez or the US): measured round trips there are ~1.45x what distance predicts
DETOUR = ({"EU", "SA"}, {"AS", "OC"})


def route_class(c1: str, c2: str) -> str:
    a, b = DETOUR
    return "detour" if (c1 in a and c2 in b) or (c1 in b and c2 in a) else "direct"


def calibration() -> list[tuple[float, float, str]]:
    """(km, measured ms, route class) per metro pair, the two directions averaged."""
    rows_c = _rows(CITIES)[1:]
    cities = {r[0]: (float(r[1]), float(r[2])) for r in rows_c}
    continent = {r[0]: r[3] for r in rows_c}
    rows = _rows(MATRIX)
    names = rows[0][1:]
    ms = {(r[0], names[i]): float(v) for r in rows[1:] for i, v in enumerate(r[1:]) if v}
    pairs = []
    for (a, b), v in ms.items():
        if a < b:
            pairs.append((km(cities[a], cities[b]), (v + ms[b, a]) / 2, route_class(continent[a], continent[b])))
    return pairs


def fit(pairs: list[tuple[float, float, str]]) -> tuple[float, float, dict[str, float]]:
    """(a, b, k): least-squares line over the direct pairs, and per route class the 95th percentile k of
    measured / fitted."""
    direct = [(x, y) for x, y, c in pairs if c == "direct"]
    n = len(direct)
    mx = sum(x for x, _ in direct) / n
    my = sum(y for _, y in direct) / n
    b = sum((x - mx) * (y - my) for x, y in direct) / sum((x - mx) ** 2 for x, _ in direct)
    a = my - b * mx
    k = {}
    for cls in ("direct", "detour"):
        ratios = sorted(y / (a + b * x) for x, y, c in pairs if c == cls)
        k[cls] = ratios[math.ceil(0.95 * len(ratios)) - 1]
    return a, b, k


def main() -> None:
    pairs = calibration()
    a, b, k = fit(pairs)
    regions = [(f"{r['provider']}:{r['region']}", (float(r["lat"]), float(r["lon"])), r["continent"])
               for r in csv.DictReader((DATA / "regions.csv").open())]
    out = DATA / "region_latency_p95.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["from", "to", "p95_ms", "km"])
        for i, (l1, c1, k1) in enumerate(regions):
            for l2, c2, k2 in regions[i + 1:]:
                d = km(c1, c2)
                p95 = SAME_REGION_MS if d < 1 else (a + b * d) * k[route_class(k1, k2)]
                w.writerow([l1, l2, round(max(p95, SAME_REGION_MS), 1), round(d)])
    covered = sum(1 for x, y, c in pairs if y <= (a + b * x) * k[c] + 1e-9)
    print(f"fit on {len(pairs)} pairs: ms = {a:.2f} + {b * 1000:.3f} per 1,000 km, p95 factor direct "
          f"{k['direct']:.3f}, detour {k['detour']:.3f}; "
          f"{covered}/{len(pairs)} measured averages at or below the p95 line; wrote {out}")


if __name__ == "__main__":
    main()
