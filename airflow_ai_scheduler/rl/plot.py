"""The learning curve: validation metrics against training steps, with the heuristics as flat lines (PNG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

PANELS = (("score", "return (higher is better)"), ("miss_rate_pct", "deadline misses %"),
          ("mean_completion_h", "mean run completion h"), ("starved_pct", "starved tasks %"))
SHOWN = ("fifo", "priority", "edf", "least_slack", "sjf", "deadline")


def plot_learning_curve(curve: Sequence[Mapping[str, float]], baselines: Mapping[str, Mapping[str, float]],
                        out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    steps = [p["step"] for p in curve]
    for ax, (key, label) in zip(axes.flat, PANELS, strict=True):
        ax.plot(steps, [p[key] for p in curve], marker="o", color="black", label="rl (DQN)")
        for i, name in enumerate(n for n in SHOWN if n in baselines):
            ax.axhline(baselines[name][key], linestyle="--", color=f"C{i}", label=name, linewidth=1)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("training steps (decisions)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("RL dispatcher: validation workloads during training")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
