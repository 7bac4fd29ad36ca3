"""Keep secrets out of what is sent to the model, and out of everything stored or logged about it.

:func:`redact` runs on the prompt *before* it is sent: the stored prompt is exactly the text the model
received, and its hash (:func:`prompt_hash`) is the hash of that text. It replaces

- the values of known keys: the LLM keys in the environment (``GEMINI_API_KEY``, ``GOOGLE_API_KEY``,
  ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) and the key the model's connection holds;
- secrets by their shape (:data:`SHAPES`): private-key blocks, cloud and SaaS keys and tokens (Google, AWS,
  GitHub, GitLab, Slack, OpenAI/Anthropic, Stripe), JWTs, ``Bearer``/``Basic`` credentials, the password
  in a URL (``scheme://user:PASSWORD@host``), and the value of any ``name = value`` / ``name: value``
  whose name says it is secret (password, secret, token, api key, access key, private key, credential,
  ``AccountKey``, ...).

Redaction is best effort: a secret of no known shape and no telling name goes through. Task docs are
sent to the model (see docs/llm-planner.md): keep secrets out of them.
"""

from __future__ import annotations

import hashlib
import os
import re

from airflow_ai_scheduler.planning.llm.schema import LLMExchange

MASK = "***"
_KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
# Google API keys have a fixed shape; scrub them even if they came from somewhere other than env
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{35}")
# names that say their value is a secret (matched inside longer names: db_password, AWS_SECRET_ACCESS_KEY)
_SECRET_NAME = (r"(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
                r"client[_-]?secret|credentials?|auth[_-]?key|accountkey|sharedaccesskey|sas[_-]?token|"
                r"session[_-]?key)")

#: (what, pattern, replacement): secret shapes, applied in order to any text
SHAPES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("private key block", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?"
                                     r"(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)", re.S), MASK),
    ("Google API key", _GOOGLE_KEY, MASK),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[0-9A-Z]{16}\b"), MASK),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), MASK),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), MASK),
    ("Slack token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), MASK),
    ("Slack webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"), MASK),
    ("OpenAI/Anthropic key", re.compile(r"\bsk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{20,}"), MASK),
    ("Stripe key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"), MASK),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"), MASK),
    ("Bearer token", re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/-]{16,}=*"), rf"\1{MASK}"),
    ("Authorization header", re.compile(r"(?i)\b(Authorization[\"']?\s*[:=]\s*[\"']?(?:Basic|Bearer|Token)?\s*)"
                                        r"(?!\*\*\*)[^\s\"',;]{6,}"), rf"\1{MASK}"),
    ("password in a URL", re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']+):[^@\s/\"']+@"), rf"\1:{MASK}@"),
)
#: the value of a setting whose name says it is secret: ``db_password = x``, ``"apiKey": "x"``,
#: ``AccountKey=x;`` — and ``the password is x``. Only in free text (task docs, run ids): never applied
#: to a whole prompt, whose own lines have ``"name": value`` shapes
KEYWORDS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("name = secret value", re.compile(
        rf"(?i)([A-Za-z0-9_.-]*{_SECRET_NAME}[A-Za-z0-9_.-]*[\"']?)(\s*(?:[:=]|=>)\s*)"
        r"([\"']?)(?!\*\*\*)[^\s\"',;&]{3,}"), rf"\1\2\3{MASK}"),
    ("password is value", re.compile(r"(?i)\b(passw(?:or)?d\s+is\s+)([\"']?)(?!\*\*\*)[^\s\"',;]{3,}"),
     rf"\1\2{MASK}"),
)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def known_secrets(extra: tuple[str, ...] = ()) -> list[str]:
    vals = [os.environ.get(k, "") for k in _KEY_ENVS] + list(extra)
    return [v for v in vals if v and len(v) >= 8]


def secrets_of(model: object) -> tuple[str, ...]:
    """Keys a model's provider holds (e.g. from an Airflow connection, never in env), to scrub them too.
    Best effort over pydantic-ai internals; the key shapes above are the backstop."""
    provider = getattr(model, "_provider", None) or getattr(model, "provider", None)
    found = []
    for obj in (provider, getattr(provider, "client", None)):
        for attr in ("_api_key", "api_key"):
            val = getattr(obj, attr, None) if obj is not None else None
            if isinstance(val, str):
                found.append(val)
    return tuple(found)


def redact(text: str, secrets: list[str] | None = None, *, keywords: bool = True) -> str:
    """``text`` with known secret values and secret-shaped strings replaced by ``***``; ``keywords``: also
    the values of settings named like secrets (free text only: see :data:`KEYWORDS`)."""
    for s in sorted(secrets if secrets is not None else known_secrets(), key=len, reverse=True):
        text = text.replace(s, MASK)
    for _what, pattern, repl in SHAPES + (KEYWORDS if keywords else ()):
        text = pattern.sub(repl, text)
    return text


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """Known secrets and secret shapes out of a reason, a response or a log line."""
    return redact(text, secrets)


def scrubbed(ex: LLMExchange, secrets: list[str] | None = None) -> LLMExchange:
    """The exchange with every known key replaced in what came back (errors from HTTP clients may echo
    URLs with ?key=). The prompt is left alone: it was redacted before it was sent, and is stored as sent."""
    secrets = secrets if secrets is not None else known_secrets()
    upd: dict[str, object] = {"reason": scrub(ex.reason, secrets)}
    if ex.response_text is not None:
        upd["response_text"] = scrub(ex.response_text, secrets)
    return ex.model_copy(update=upd)
