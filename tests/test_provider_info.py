"""Provider metadata and config: what Airflow reads agrees with what the code falls back to."""

from __future__ import annotations

import subprocess
import sys

from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION
from airflow_ai_scheduler.get_provider_info import get_provider_info


def test_declared_defaults_equal_code_defaults():
    options = get_provider_info()["config"][SECTION]["options"]
    assert {k: v["default"] for k, v in options.items()} == CONFIG_DEFAULTS
    for name, opt in options.items():
        assert opt["description"] and opt["type"] in {"string", "integer", "float", "boolean"}, name


def test_entry_points_are_registered():
    from importlib.metadata import entry_points

    values = {ep.value for ep in entry_points(group="apache_airflow_provider")}
    assert "airflow_ai_scheduler.get_provider_info:get_provider_info" in values


def test_planning_core_never_imports_airflow():
    code = (
        "import sys, json\n"
        "import airflow_ai_scheduler.models, airflow_ai_scheduler.planning.greedy, "
        "airflow_ai_scheduler.planning.validate, airflow_ai_scheduler.planning.candidates, "
        "airflow_ai_scheduler.cli.main, airflow_ai_scheduler.fleets.base, airflow_ai_scheduler.planning.suitability, "
        "airflow_ai_scheduler.usage.measure, airflow_ai_scheduler.usage.anomaly, airflow_ai_scheduler.usage.rightsize\n"
        "from airflow_ai_scheduler.cli.main import build_parser; build_parser()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_test_files_have_unique_basenames():
    """tests/ has no __init__.py files: two test modules with one basename stop pytest from collecting."""
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []
