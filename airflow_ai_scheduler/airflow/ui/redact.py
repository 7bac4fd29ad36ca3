"""Secrets out of what the UI shows of an LLM exchange (a second line behind the scrubbing at record time)."""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"AIza[0-9A-Za-z_\-]{35}"),                       # Google API key
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),                  # AWS access key id
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"),        # OpenAI / Anthropic keys
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),                 # GitHub tokens
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),                # Slack tokens
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-.=]{16,}"),           # bearer tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]
_ASSIGNED = re.compile(r"(?i)\b(password|passwd|secret|api[_-]?key|token|aws_secret_access_key)(\s*[=:]\s*)"
                       r"(['\"]?)[^\s'\"]{4,}\3")


def redact(text: str | None) -> str | None:
    if not text:
        return text
    from airflow_ai_scheduler.planning.llm.audit import scrub

    text = scrub(text)
    for p in _PATTERNS:
        text = p.sub("[redacted]", text)
    return _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
