"""Live price fetchers: each turns one cloud's own pricing API response into :class:`CatalogRow` objects.

All fetchers satisfy :class:`PriceFetcher`. They price the instance types they are asked for; machine
shapes (vCPUs, memory, GPUs) that the price APIs do not return (Azure, GCP) come from a *shapes* table,
by default the bundled catalog's rows for that provider. Interruption bands are not part of any of these
APIs, so refreshed rows keep the band of the row they replace (see :func:`..refresh.merge_rows`).

Secrets (GCP API key or bearer token) are passed in headers, never in URLs, and never logged. A response
whose shape is not the documented one raises :class:`CatalogError` naming the cloud and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_ai_scheduler.catalog import Catalog, CatalogRow, bundled_catalog
from airflow_ai_scheduler.exceptions import CatalogError

if TYPE_CHECKING:
    import httpx

#: pages followed at most per query: a paging loop that never ends is a bug on one side or the other
MAX_PAGES = 500
HTTP_TIMEOUT_SECONDS = 60.0


@runtime_checkable
class PriceFetcher(Protocol):
    """Fetches current prices for ``instance_types`` in ``regions`` of one cloud (``name``)."""

    name: str

    def fetch(self, regions: Sequence[str], instance_types: Sequence[str]) -> list[CatalogRow]: ...


def shapes_for(provider: str, catalog: Catalog | None = None) -> dict[str, CatalogRow]:
    """Instance type → a row of ``catalog`` (default: bundled) describing its vCPUs, memory and GPUs."""
    out: dict[str, CatalogRow] = {}
    for r in (catalog or bundled_catalog()).rows:
        if r.provider == provider:
            out.setdefault(r.instance_type, r)
    return out


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def field(obj: Any, key: str, cloud: str, where: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """``obj[key]``, or a :class:`CatalogError` naming the cloud and the field if it is missing/mistyped."""
    if not isinstance(obj, Mapping) or key not in obj:
        raise CatalogError(f"{cloud} price response: missing field {where}.{key}")
    value = obj[key]
    if kind is not None and not isinstance(value, kind):
        raise CatalogError(f"{cloud} price response: field {where}.{key} has unexpected type "
                           f"{type(value).__name__}")
    return value


def http_client(client: httpx.Client | None) -> httpx.Client:
    import httpx

    return client or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=True)


def get_json(client: httpx.Client, cloud: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """GET ``url`` and return its JSON object; errors name the cloud and the status (never headers)."""
    import httpx

    try:
        resp = client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise CatalogError(f"{cloud} price API unreachable: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        raise CatalogError(f"{cloud} price API returned HTTP {resp.status_code}: {resp.text[:300]}")
    try:
        data = resp.json()
    except ValueError:
        raise CatalogError(f"{cloud} price API returned a body that is not JSON") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{cloud} price response: expected a JSON object, got {type(data).__name__}")
    return data


def default_fetchers(providers: Sequence[str], base: Catalog | None = None) -> list[PriceFetcher]:
    """One live fetcher per provider name (``aws``, ``azure``, ``gcp``), shapes taken from ``base``."""
    from airflow_ai_scheduler.catalog.fetchers.aws import AwsFetcher
    from airflow_ai_scheduler.catalog.fetchers.azure import AzureFetcher
    from airflow_ai_scheduler.catalog.fetchers.gcp import GcpFetcher

    known: dict[str, Any] = {"aws": AwsFetcher, "azure": AzureFetcher, "gcp": GcpFetcher}
    out: list[PriceFetcher] = []
    for p in providers:
        if p not in known:
            raise CatalogError(f"unknown provider {p!r} for a price refresh; choose from {sorted(known)}")
        out.append(known[p](shapes=shapes_for(p, base)))
    return out


__all__ = ["MAX_PAGES", "PriceFetcher", "default_fetchers", "field", "get_json", "http_client",
           "shapes_for", "today"]
