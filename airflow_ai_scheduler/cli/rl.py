"""``ai-scheduler rl``: train, evaluate and fine-tune the reinforcement-learning dispatcher (the ``[rl]`` extra).

    ai-scheduler rl train --steps 40000 --seed 0 --out policy.npz --curve curve.json --plot curve.png
    ai-scheduler rl evaluate [--policy policy.npz] --workloads 20
    ai-scheduler rl finetune --db URL --policy current.npz --out new.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EVAL_BASELINES = ("fifo", "priority", "edf", "least_slack", "deadline", "sjf", "fair_share")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="the reinforcement-learning dispatch policy: train, evaluate, fine-tune")
    rl = p.add_subparsers(dest="rl_command", required=True)
    t = rl.add_parser("train", help="train a DQN dispatcher in the simulator (seeded, reproducible)")
    t.add_argument("--steps", type=int, default=40_000, help="environment steps (decisions)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=5_000, help="steps between validation points")
    t.add_argument("--out", type=Path, required=True, help="policy file to write (.npz)")
    t.add_argument("--curve", type=Path, help="write the learning curve (JSON)")
    t.add_argument("--plot", type=Path, help="write the learning curve (PNG)")
    t.set_defaults(func=cmd_train)
    e = rl.add_parser("evaluate", help="the policy against the heuristics on held-out workloads, with 95 %% CIs")
    e.add_argument("--policy", type=Path, help="policy file (default: the shipped one)")
    e.add_argument("--workloads", type=int, default=20, help="held-out workloads (seeds never trained on)")
    e.add_argument("--baselines", default=",".join(EVAL_BASELINES))
    e.add_argument("--json", type=Path, help="also write every result here")
    e.set_defaults(func=cmd_evaluate)
    f = rl.add_parser("finetune", help="fine-tune from the history table's tries; keep the old policy if worse")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", help="SQLAlchemy URL of the database holding the history table (Airflow's)")
    src.add_argument("--history-json", type=Path, help="history rows as JSON (a list of objects)")
    f.add_argument("--policy", type=Path, help="the policy in force (default: the shipped one)")
    f.add_argument("--out", type=Path, required=True, help="where the policy in force is kept (may be --policy)")
    f.add_argument("--steps", type=int, default=5_000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--workloads", type=int, default=6, help="held-out workloads for the guard")
    f.set_defaults(func=cmd_finetune)


def _require_torch() -> None:
    from airflow_ai_scheduler.exceptions import ConfigError

    try:
        import gymnasium  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ai-scheduler rl: {exc.name} is not installed; install the extra: "
                          "pip install 'airflow-ai-scheduler[rl]' (CPU torch: see docs/dispatch.md)") from None


def cmd_train(args: argparse.Namespace) -> int:
    _require_torch()
    from airflow_ai_scheduler.rl.training import BASELINES, VALIDATION_SEEDS, baseline_metrics, train_policy

    q, curve = train_policy(steps=args.steps, seed=args.seed, eval_every=args.eval_every)
    q.save(args.out)
    base = baseline_metrics(BASELINES)
    if args.curve:
        args.curve.write_text(json.dumps({"steps": args.steps, "seed": args.seed, "validation_seeds":
                                          list(VALIDATION_SEEDS), "curve": curve, "baselines": base}, indent=1))
    if args.plot:
        from airflow_ai_scheduler.rl.plot import plot_learning_curve

        plot_learning_curve(curve, base, args.plot)
    best = max(base, key=lambda n: base[n]["score"])
    print(f"wrote {args.out}; best validation score {q.meta.get('validation', {}).get('score', float('nan')):.2f} "
          f"(best heuristic {best}: {base[best]['score']:.2f})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from airflow_ai_scheduler.dispatch import get_policy
    from airflow_ai_scheduler.rl.policy import RLDispatchPolicy
    from airflow_ai_scheduler.rl.training import TEST_BASE, evaluate, paired, summary_table

    names = [n.strip() for n in args.baselines.split(",") if n.strip()]
    policies = {"rl": lambda: RLDispatchPolicy(str(args.policy) if args.policy else None)}
    policies.update({n: (lambda n=n: get_policy(n)) for n in names})
    seeds = [TEST_BASE + i for i in range(args.workloads)]
    results = evaluate(policies, seeds)
    table = summary_table(results)
    print(f"{args.workloads} held-out workloads (seeds {seeds[0]}..{seeds[-1]}); mean [95 % CI]; score = the "
          "RL return (higher is better)")
    cols = ("score", "miss_rate_pct", "mean_completion_h", "p95_completion_h", "mean_wait_min", "p95_wait_min",
            "throughput_per_h", "starved_pct")
    print(f"{'policy':<14}" + "".join(f"{c:>26}" for c in cols))
    for name, row in sorted(table.items(), key=lambda kv: -kv[1]["score"][0]):
        print(f"{name:<14}" + "".join(f"{row[c][0]:>10.2f} [{row[c][1]:>6.2f},{row[c][2]:>6.2f}]" for c in cols))
    best = max((n for n in table if n != "rl"), key=lambda n: table[n]["score"][0])
    d = paired(results, "rl", best)
    verdict = "better than" if d[1] > 0 else "worse than" if d[2] < 0 else "not distinguishable from"
    print(f"\nrl − {best} (the best heuristic here), score: {d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}] → rl is "
          f"{verdict} {best}")
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps({"seeds": seeds, "summary": table, "rl_minus_best": {best: d},
                                         "runs": {n: [{**asdict(r), "score": s} for r, s in rs]
                                                  for n, rs in results.items()}}, indent=1))
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    _require_torch()
    from airflow_ai_scheduler.rl.finetune import finetune, history_rows

    rows = history_rows(db=args.db, path=args.history_json)
    record = finetune(rows, policy=args.policy, out=args.out, steps=args.steps, seed=args.seed,
                      workloads=args.workloads)
    print(json.dumps(record, indent=1))
    return 0
