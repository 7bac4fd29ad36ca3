"""The plugin's FastAPI app (mounted at ``/ai-scheduler`` by the api-server).

To contribute endpoints from another module, write an ``APIRouter`` whose routes depend on
:mod:`.auth` (``can_read_dag`` for a path with ``{dag_id}``, ``readable_dag_ids`` for lists) and add one
line to :data:`ROUTERS`. Routes get the history store through :func:`get_store`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request

from airflow_ai_scheduler.airflow.ui.auth import current_user

PREFIX = "/ai-scheduler"
STATIC = Path(__file__).parent / "static"
BUNDLE = "ai-scheduler.js"
#: the Airflow UI routes of the views (``/plugin/<route>``, ``/dags/<dag>/plugin/<route>``, ...)
NAV_ROUTE, DAG_ROUTE, RUN_ROUTE = "ai-scheduler", "ai-scheduler-dag", "ai-scheduler-run"

#: "module:attribute" of each APIRouter the app includes, with its path prefix inside the app
ROUTERS: list[tuple[str, str]] = [
    ("airflow_ai_scheduler.airflow.ui.runs:router", "/api"),
    ("airflow_ai_scheduler.airflow.ui.steer:router", "/api"),
    ("airflow_ai_scheduler.airflow.ui.usage:router", "/api"),
    ("airflow_ai_scheduler.airflow.ui.resources:router", "/api"),
]


def get_store(request: Request) -> Any:
    """The history store: the test's factory, or one on Airflow's metadata database session."""
    factory = getattr(request.app.state, "store_factory", None)
    if factory is not None:
        return factory()
    from airflow.utils.session import create_session

    from airflow_ai_scheduler.history.store import HistoryStore

    return HistoryStore(create_session)


def _load(spec: str) -> APIRouter:
    import importlib

    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_app(store_factory: Callable[[], Any] | None = None, auth: bool = True) -> FastAPI:
    """The app; ``store_factory`` (tests) returns a HistoryStore; ``auth=False`` (tests) lets every request in."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, RedirectResponse
    from fastapi.staticfiles import StaticFiles

    # the docs are served by our own routes below, behind a login (FastAPI's own would be public)
    app = FastAPI(title="airflow-ai-scheduler", description="Plans, costs and approvals of DAG runs",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store_factory = store_factory
    app.state.auth = auth

    from sqlalchemy.exc import OperationalError

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        """The metadata database refused or dropped the call (SQLite locked, PostgreSQL down): 503 with the
        driver's one-line reason — never the SQL or its parameters — and a hint to retry."""
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0][:200]
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content={"detail": f"the metadata database did not answer ({reason}); retry"})
    for spec, prefix in ROUTERS:
        app.include_router(_load(spec), prefix=prefix)

    login = [Depends(current_user)]

    @app.get("/openapi.json", dependencies=login, include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        schema = get_openapi(title=app.title, version="1", description=app.description, routes=app.routes,
                             servers=[{"url": request.scope.get("root_path") or PREFIX}])
        return JSONResponse(schema)

    @app.get("/docs", dependencies=login, include_in_schema=False)
    def docs(request: Request) -> Any:
        return get_swagger_ui_html(openapi_url=f"{request.scope.get('root_path', '')}/openapi.json",
                                   title=f"{app.title} — API")

    @app.get("/redoc", dependencies=login, include_in_schema=False)
    def redoc(request: Request) -> Any:
        return get_redoc_html(openapi_url=f"{request.scope.get('root_path', '')}/openapi.json",
                              title=f"{app.title} — API")

    # the React view Airflow's UI loads (public like Airflow's own JS: it holds no data)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Any:
        """The old entry point: Airflow's UI page that shows the cost view."""
        root = str(request.scope.get("root_path") or "")
        base = root[: -len(PREFIX)] if root.endswith(PREFIX) else ""
        return RedirectResponse(f"{base}/plugin/{NAV_ROUTE}")

    return app
