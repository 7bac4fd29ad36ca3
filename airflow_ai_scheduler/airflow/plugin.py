"""The Airflow UI part: each run's plan, its timeline, planned vs actual cost, the reasons, and steering.

The plugin registers:

- a FastAPI app at ``/ai-scheduler`` (:mod:`.ui.app`): JSON under ``/ai-scheduler/api/...``, the React
  bundle under ``/ai-scheduler/static/``, its OpenAPI docs behind a login;
- three React views Airflow's own UI renders with its own React and Chakra UI (no iframe): a top-level
  **AI Scheduler** cost view, a **Cost plan** tab on each DAG run and a **Costs** tab on each DAG.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_ai_scheduler.airflow import usage_listener
from airflow_ai_scheduler.airflow.ui.app import BUNDLE, DAG_ROUTE, NAV_ROUTE, PREFIX, RUN_ROUTE, create_app

__all__ = ["PREFIX", "AiSchedulerPlugin", "create_app"]

# relative to Airflow's base URL (the UI resolves them against <base href>), so a sub-path deployment works
_BUNDLE_URL = f"{PREFIX.lstrip('/')}/static/{BUNDLE}"
_ICON = f"{PREFIX.lstrip('/')}/static/icon.svg"


class AiSchedulerPlugin(AirflowPlugin):
    name = "ai_scheduler"

    # measures each try where it runs (the task runner) and hands the numbers back in an XCom
    listeners = [usage_listener]

    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "AI Scheduler"}]

    react_apps = [
        {"name": "AI Scheduler", "bundle_url": _BUNDLE_URL, "destination": "nav", "url_route": NAV_ROUTE,
         "icon": _ICON},
        {"name": "Cost plan", "bundle_url": _BUNDLE_URL, "destination": "dag_run", "url_route": RUN_ROUTE,
         "icon": _ICON},
        {"name": "Costs", "bundle_url": _BUNDLE_URL, "destination": "dag", "url_route": DAG_ROUTE, "icon": _ICON},
    ]

    external_views = [
        {"name": "AI Scheduler API", "href": f"{PREFIX}/docs", "destination": "nav", "category": "docs",
         "url_route": "ai-scheduler-api"},
    ]
