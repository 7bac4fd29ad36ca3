"""Keep secrets out of everything stored or logged about an exchange."""

from __future__ import annotations

import hashlib
import os
import re

from airflow_ai_scheduler.planning.llm.schema import LLMExchange

_KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
# Google API keys have a fixed shape; scrub them even if they came from somewhere other than env
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{35}")


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def known_secrets(extra: tuple[str, ...] = ()) -> list[str]:
    vals = [os.environ.get(k, "") for k in _KEY_ENVS] + list(extra)
    return [v for v in vals if v and len(v) >= 8]


def secrets_of(model: object) -> tuple[str, ...]:
    """Keys a model's provider holds (e.g. from an Airflow connection, never in env), to scrub them too.
    Best effort over pydantic-ai internals; the Google key pattern above is the backstop."""
    provider = getattr(model, "_provider", None) or getattr(model, "provider", None)
    found = []
    for obj in (provider, getattr(provider, "client", None)):
        for attr in ("_api_key", "api_key"):
            val = getattr(obj, attr, None) if obj is not None else None
            if isinstance(val, str):
                found.append(val)
    return tuple(found)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    for s in secrets if secrets is not None else known_secrets():
        text = text.replace(s, "***")
    return _GOOGLE_KEY.sub("***", text)


def scrubbed(ex: LLMExchange, secrets: list[str] | None = None) -> LLMExchange:
    """The exchange with every known key replaced (errors from HTTP clients may echo URLs with ?key=)."""
    secrets = secrets if secrets is not None else known_secrets()
    upd: dict[str, object] = {"prompt": scrub(ex.prompt, secrets), "reason": scrub(ex.reason, secrets)}
    if ex.response_text is not None:
        upd["response_text"] = scrub(ex.response_text, secrets)
    return ex.model_copy(update=upd)
