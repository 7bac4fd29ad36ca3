"""The Airflow path to a model: an ``[ai_scheduler] llm_conn_id`` connection through the common-ai provider.

The only module of planning/llm that imports Airflow, and only when a connection id is used.
"""

from __future__ import annotations

from typing import Any

from airflow_ai_scheduler.exceptions import LLMPlannerError


def model_from_connection(conn_id: str, model_override: str | None = None) -> Any:
    """The pydantic-ai Model of connection ``conn_id`` (type ``pydanticai``: password = API key, extra
    ``{"model": "google:gemini-2.5-flash"}``); ``model_override`` (per DAG/operator) replaces the model."""
    try:
        from airflow.providers.common.ai.hooks.pydantic_ai import PydanticAIHook
    except ImportError as exc:
        raise LLMPlannerError("llm_conn_id needs apache-airflow-providers-common-ai") from exc
    try:
        hook = PydanticAIHook(llm_conn_id=conn_id, model_id=model_override)
        return hook.get_conn()
    except Exception as exc:  # noqa: BLE001 - missing connection, bad extra: one clear error
        raise LLMPlannerError(f"connection {conn_id!r}: cannot build an LLM model: {exc}") from exc
