"""Build a refreshed price catalog: live prices merged over a base catalog, written safely.

The refreshed file has the bundled file's columns, so :func:`~airflow_ai_scheduler.catalog.load_catalog`
(and the ``catalog_path`` option, ``--catalog`` flags) read it like the snapshot. Writes take an exclusive
``fcntl`` lock on ``<output>.lock`` (two refreshes cannot interleave) and go to a temporary file in the
same directory that is then renamed over the output (a reader never sees half a file). The bundled
snapshot is never a valid output: it is the package's provenance-documented data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from airflow_ai_scheduler.catalog import BUNDLED_PATH, Catalog, CatalogRow, bundled_catalog, write_rows
from airflow_ai_scheduler.catalog.fetchers import PriceFetcher
from airflow_ai_scheduler.exceptions import CatalogError

log = logging.getLogger(__name__)

Key = tuple[str, str, str]


def _key(r: CatalogRow) -> Key:
    return r.provider, r.region, r.instance_type


def merge_rows(base: Iterable[CatalogRow], fetched: Iterable[CatalogRow]) -> list[CatalogRow]:
    """Fetched rows replace base rows with the same (provider, region, type); new ones are appended.

    What a price API does not return is kept from the base row: the Spot Advisor interruption band
    (no cloud serves it with prices) and the GPU model when the fetcher only knew a count.
    """
    base = list(base)
    by_key = {_key(r): r for r in base}
    updates: dict[Key, CatalogRow] = {}
    for r in fetched:
        old = by_key.get(_key(r))
        if old is not None:
            r = dataclasses.replace(r, interruption_band=r.interruption_band or old.interruption_band,
                                    gpu_type=r.gpu_type or old.gpu_type)
        updates[_key(r)] = r
    merged = [updates.pop(_key(r), r) for r in base]
    return merged + sorted(updates.values(), key=_key)


def _scope(provider: str, regions: Sequence[str] | None, base: Catalog) -> list[str]:
    """The provider's regions: from ``regions`` (``r`` or ``provider:r``), else those of the base catalog."""
    if regions:
        out = []
        for r in regions:
            p, _, name = r.rpartition(":")
            if not p or p == provider:
                out.append(name)
        return out
    return sorted({r.region for r in base.rows if r.provider == provider})


def _is_bundled(path: Path) -> bool:
    try:
        if path.exists() and path.samefile(BUNDLED_PATH):
            return True
    except OSError:
        pass
    return path.resolve().parent == BUNDLED_PATH.resolve().parent


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_catalog(rows: Iterable[CatalogRow], output_path: str | Path) -> int:
    """Atomically write ``rows`` to ``output_path`` under its lock; refuses the bundled snapshot."""
    path = Path(output_path)
    if _is_bundled(path):
        raise CatalogError(f"refusing to write {path}: the bundled price catalog is read-only; "
                           "write the refreshed catalog elsewhere and point catalog_path/--catalog at it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="") as fh:
                n = write_rows(rows, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return n


def refresh_catalog(output_path: str | Path, fetchers: Iterable[PriceFetcher], base: Catalog | None = None,
                    regions: Sequence[str] | None = None,
                    instance_types: Sequence[str] | None = None) -> tuple[Path, int]:
    """Fetch live prices with each fetcher and write them, merged over ``base``, to ``output_path``.

    Each fetcher prices the base catalog's instance types of its provider (or ``instance_types``) in
    ``regions`` (default: the provider's regions in ``base``). A fetcher error aborts the refresh before
    anything is written. Returns the output path and the number of rows written.
    """
    path = Path(output_path)
    if _is_bundled(path):  # fail before spending minutes on API calls
        write_catalog([], path)
    base = base if base is not None else bundled_catalog()
    fetched: list[CatalogRow] = []
    for fetcher in fetchers:
        provider = fetcher.name
        types = list(instance_types) if instance_types else list(dict.fromkeys(
            r.instance_type for r in base.rows if r.provider == provider))
        scope = _scope(provider, regions, base)
        if not scope or not types:
            log.warning("price refresh: nothing to fetch for %s (regions %s, %d types)", provider, scope, len(types))
            continue
        rows = fetcher.fetch(scope, types)
        wrong = [r for r in rows if r.provider != provider]
        if wrong:
            raise CatalogError(f"fetcher {provider!r} returned rows for provider {wrong[0].provider!r}")
        log.info("price refresh: %s returned %d rows for %d types in %s", provider, len(rows), len(types), scope)
        fetched.extend(rows)
    n = write_catalog(merge_rows(base.rows, fetched), path)
    return path, n
