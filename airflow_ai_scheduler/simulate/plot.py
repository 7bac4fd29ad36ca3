"""Cost against deadline slack, one line per policy (PNG)."""

from __future__ import annotations

from pathlib import Path


def plot_cost_vs_slack(rows: dict[str, list[tuple[float, float]]], out: str | Path, title: str = "") -> Path:
    """``rows``: policy → [(slack hours, mean cost)]. Writes a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")  # no display on schedulers and CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in sorted(rows.items()):
        pts = sorted(points)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xlabel("deadline slack (h)")
    ax.set_ylabel("mean cost ($)")
    ax.set_title(title or "spot policies: cost vs deadline slack")
    ax.grid(alpha=0.3)
    ax.legend()
    out = Path(out)
    fig.savefig(out, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
