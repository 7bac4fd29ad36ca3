"""``ai-scheduler`` entry point. Each sub-command lives in its own module with a ``register(subparsers)``.

Exit codes: 0 ok, 2 bad input, 3 infeasible, 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_ai_scheduler.exceptions import AiSchedulerError, InfeasiblePlanError, ManifestError

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3

#: modules under airflow_ai_scheduler.cli that add sub-commands
COMMAND_MODULES = ("plan", "prices", "simulate", "rl")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="ai-scheduler", description="Cost-aware planning for Airflow tasks.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"airflow_ai_scheduler.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InfeasiblePlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except (AiSchedulerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, (ValueError, FileNotFoundError)) else EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
