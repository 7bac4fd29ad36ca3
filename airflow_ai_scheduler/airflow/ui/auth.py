"""Access control of the plugin's app, through Airflow's own auth manager.

Airflow 3 does not guard a plugin's FastAPI app: each route depends on one of these. The user comes from
the ``Authorization: Bearer`` header or the UI's ``_token`` cookie (Airflow's ``get_user``). With
``app.state.auth`` False (unit tests) every check passes and every DAG is readable.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request


async def current_user(request: Request) -> Any:
    """The logged-in user (401 without a valid token)."""
    if not getattr(request.app.state, "auth", True):
        return None
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    creds = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if scheme and token else None
    return await get_user(request, None, creds)


async def readable_dag_ids(request: Request) -> set[str] | None:
    """The DAG ids the user may read (Airflow's ``get_authorized_dag_ids``); None: no restriction (tests)."""
    user = await current_user(request)
    if user is None:
        return None
    from airflow.api_fastapi.app import get_auth_manager
    from starlette.concurrency import run_in_threadpool

    return set(await run_in_threadpool(lambda: get_auth_manager().get_authorized_dag_ids(user=user, method="GET")))


def _check_dag(request: Request, user: Any, method: str) -> None:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    dag_id = request.path_params.get("dag_id")
    if not dag_id:
        raise HTTPException(400, "no dag_id in the path")
    requires_access_dag(method, DagAccessEntity.RUN)(request, user)  # type: ignore[arg-type]


async def can_read_dag(request: Request) -> None:
    """403 unless the user may read the runs of the path's DAG (as Airflow's own DAG run API checks)."""
    user = await current_user(request)
    if user is not None:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(_check_dag, request, user, "GET")


async def can_edit_dag(request: Request) -> Any:
    """403 unless the user may change the path's DAG runs (approve / reject a plan); returns the user."""
    user = await current_user(request)
    if user is not None:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(_check_dag, request, user, "PUT")
    return user


def user_name(user: Any) -> str:
    if user is None:
        return "anonymous"
    for attr in ("get_name", "get_id"):
        fn = getattr(user, attr, None)
        if callable(fn):
            try:
                return str(fn())
            except Exception:  # a user object without a name: fall through
                continue
    return str(user)
