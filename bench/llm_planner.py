"""LLM planner benchmark on the planning benchmark's small workloads: gap to CP-SAT, placements the repair
changed, latency.

    uv run python bench/llm_planner.py                   # replayed answers; live rows when a key is set
    GEMINI_API_KEY=... uv run python bench/llm_planner.py --record   # live rows, and save their answers
    uv run python bench/llm_planner.py --model google:gemini-2.5-pro

Rows:
- ``live``: the model named by --model, called for real (only with GEMINI_API_KEY/GOOGLE_API_KEY).
- ``replay``: an answer recorded from a live run (bench/recorded/<workload>.json, written by --record),
  served again through pydantic-ai's FunctionModel: same validation and repair path, no network.
- ``stand-in``: when no recorded answer exists, a *constructed* answer that is NOT a model's: the greedy
  plan with one hallucinated offer id and one dependency violation injected. It measures the repair path
  (how much CP-SAT changes, how long it takes), not the quality of any LLM.
Without a key the live rows are skipped and the output says so; no number is invented for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from workloads import SHAPES, manifest  # noqa: E402

from airflow_ai_scheduler.catalog import bundled_catalog  # noqa: E402
from airflow_ai_scheduler.models import Manifest, Plan  # noqa: E402
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner  # noqa: E402
from airflow_ai_scheduler.planning.greedy import GreedyPlanner  # noqa: E402
from airflow_ai_scheduler.planning.llm import LLMPlanner  # noqa: E402
from airflow_ai_scheduler.planning.validate import validate  # noqa: E402

RECORDED = Path(__file__).parent / "recorded"


def stand_in_answer(m: Manifest) -> dict:
    """Greedy's plan with two injected faults (see the module docstring): not a model's answer."""
    plan = GreedyPlanner().plan(m)
    rows = [{"jobId": p.job_id, "offerId": p.offer_id, "startTime": p.start_time.isoformat(), "rationale": "greedy"}
            for p in plan.placements]
    rows[0]["offerId"] = "made-up-offer-p5.48xlarge-spot"
    dependent = next((r for r in rows if m.job_map[r["jobId"]].dependencies), None)
    if dependent is not None:
        dependent["startTime"] = m.now.isoformat()
    return {"placements": rows}


def replay_model(answer: dict):
    from pydantic_ai.messages import ModelResponse, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def fn(messages, info):
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, json.dumps(answer))])

    return FunctionModel(fn, model_name="replay")


def run(kind: str, model, m: Manifest, ref: Plan, cpsat_limit: float) -> tuple[dict, dict | None]:
    planner = LLMPlanner(model, fallback_time_limit_seconds=cpsat_limit, timeout_seconds=120)
    t = time.perf_counter()
    plan = planner.plan(m)
    seconds = time.perf_counter() - t
    ex = planner.last_exchange
    gap = (plan.objective.total - ref.objective.total) / ref.objective.total if ref.objective.total else 0.0
    row = {"kind": kind, "model": ex.model, "outcome": ex.outcome, "reason": ex.reason,
           "omega": plan.objective.total, "cpsat_omega": ref.objective.total, "gap_to_cpsat": gap,
           "kept": len(ex.repair.kept), "changed": len(ex.repair.changed),
           "retimed": len(ex.repair.retimed), "added": len(ex.repair.added),
           "model_latency_s": ex.latency_seconds, "total_s": seconds,
           "tokens_in": ex.input_tokens, "tokens_out": ex.output_tokens,
           "valid": not validate(m, plan, m.offers or [])}
    return row, ex.response_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES))
    ap.add_argument("--model", default="google:gemini-2.5-flash")
    ap.add_argument("--cpsat-limit", type=float, default=10.0)
    ap.add_argument("--record", action="store_true", help="save live answers under bench/recorded/")
    args = ap.parse_args()
    has_key = bool(os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))
    if not has_key:
        print("no key (GEMINI_API_KEY/GOOGLE_API_KEY): live rows skipped", flush=True)
    offers = bundled_catalog().offers()
    rows = []
    for n in args.sizes:
        for shape in args.shapes:
            m = manifest(shape, n, offers)
            ref = CpSatPlanner(time_limit_seconds=args.cpsat_limit).plan(m)
            name = f"{shape}-{n}"
            if has_key:
                row, answer = run("live", args.model, m, ref, args.cpsat_limit)
                rows.append({"workload": name, **row})
                if args.record and answer is not None:
                    RECORDED.mkdir(exist_ok=True)
                    (RECORDED / f"{name}.json").write_text(json.dumps(
                        {"model": row["model"], "answer": answer}, indent=1))
            path = RECORDED / f"{name}.json"
            if path.exists():
                rec = json.loads(path.read_text())
                row, _ = run("replay", replay_model(rec["answer"]), m, ref, args.cpsat_limit)
                rows.append({"workload": name, **row, "model": f"replay of {rec['model']}"})
            else:
                row, _ = run("stand-in", replay_model(stand_in_answer(m)), m, ref, args.cpsat_limit)
                rows.append({"workload": name, **row})
            print(json.dumps(rows[-1]), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "llm_planner.json").write_text(json.dumps({"live": has_key, "rows": rows}, indent=2))
    print("| workload | rows | outcome | Ω | CP-SAT Ω | gap | kept/changed/retimed/added | model s | total s | valid |")
    print("|---|---|---|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['workload']} | {r['kind']} ({r['model']}) | {r['outcome']} | {r['omega']:.2f} | "
              f"{r['cpsat_omega']:.2f} | {100 * r['gap_to_cpsat']:+.2f} % | {r['kept']}/{r['changed']}/{r['retimed']}/{r['added']} | "
              f"{r['model_latency_s']:.2f} | {r['total_s']:.2f} | {r['valid']} |")


if __name__ == "__main__":
    main()
