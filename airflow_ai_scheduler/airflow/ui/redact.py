"""Secrets out of what the UI shows of an LLM exchange: the prompt was redacted before it was sent; this
applies the same redaction again (to exchanges stored before that, and to responses)."""

from __future__ import annotations


def redact(text: str | None) -> str | None:
    if not text:
        return text
    from airflow_ai_scheduler.planning.llm.audit import redact as _redact

    return _redact(text)
