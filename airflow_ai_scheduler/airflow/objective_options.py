"""The objective's options beyond cost, from ``[ai_scheduler]``, the fleets and a DAG's params / a run's conf.

* ``delay_cost_per_hour`` — what an hour of delay of a task costs (USD): under a burst, idle dearer
  capacity wins over a long queue for the cheapest pool when waiting costs more than the price difference.
  A DAG overrides it with the param ``ai_scheduler_delay_cost_per_hour``, a task with the hint
  ``placement(delay_cost_per_hour=...)``.
* ``carbon_weight`` — w_carbon, USD per kg CO2e (DAG param ``ai_scheduler_carbon_weight``);
  ``ai_scheduler_carbon_budget_kg`` caps a run's expected emissions.
* ``carbon_forecast_file`` — a CSV of grid intensity over time (``location,from,g_co2e_per_kwh``), read
  each time a run is planned, so a job refreshing the file is picked up without a restart.
* ``commitments`` — reserved instances and savings plans as JSON (the manifest's ``commitments``); a fleet's
  ``reserved_instances`` adds one covering that fleet.

Pure functions over already-read option values (the executor reads ``[ai_scheduler]``); bad config raises
:class:`ConfigError` naming the option, bad DAG params are logged and ignored (planning never stops a run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from airflow_ai_scheduler.exceptions import CatalogError, ConfigError
from airflow_ai_scheduler.models import Commitment, Weights

log = logging.getLogger(__name__)

#: DAG params / run conf keys read here (manifest.run_options passes them through)
RUN_OPTION_KEYS = ("ai_scheduler_delay_cost_per_hour", "ai_scheduler_carbon_weight", "ai_scheduler_carbon_budget_kg")


def fleet_commitments(fleets: Sequence[Any]) -> list[Commitment]:
    """One ``reserved`` commitment per fleet with ``reserved_instances`` (covering that fleet's offer)."""
    out = []
    for f in fleets:
        n = getattr(f, "reserved_instances", None)
        if n:
            out.append(Commitment(commitment_id=f"{f.name}-reserved", kind="reserved", instances=n, offer_ids=[f.name],
                                  amortized_usd_per_hour=getattr(f, "reserved_usd_per_hour", None)))
    return out


def manifest_defaults(get: Callable[[str], str], fleets: Sequence[Any] = ()) -> dict[str, Any]:
    """Manifest fields every run starts from: ``delayCostPerHour``, ``commitments`` and, when a forecast file
    is configured, the path to read it from at planning time (key ``carbon_forecast_file``)."""
    out: dict[str, Any] = {"delay_cost_per_hour": _nonnegative(get("delay_cost_per_hour") or "0", "delay_cost_per_hour")}
    commitments = fleet_commitments(fleets)
    raw = (get("commitments") or "").strip()
    if raw:
        try:
            commitments += TypeAdapter(list[Commitment]).validate_python(json.loads(raw))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(f"[ai_scheduler] commitments is invalid: {exc}") from None
    if commitments:
        out["commitments"] = commitments
    path = (get("carbon_forecast_file") or "").strip()
    if path:
        out["carbon_forecast_file"] = path
    return out


def weights_with_carbon(weights: Weights, get: Callable[[str], str]) -> Weights:
    return weights.model_copy(update={"carbon": _nonnegative(get("carbon_weight") or "0", "carbon_weight")})


def _nonnegative(raw: str, option: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"[ai_scheduler] {option}: expected a number ≥ 0, got {raw!r}") from None
    if not value >= 0:
        raise ConfigError(f"[ai_scheduler] {option}: expected a number ≥ 0, got {raw!r}")
    return value


def apply_run_options(defaults: Mapping[str, Any], weights: Weights, options: Mapping[str, Any],
                      where: str = "") -> tuple[dict[str, Any], Weights]:
    """(manifest fields, weights) for one run: the defaults with its DAG's params / conf applied and the
    forecast file read. A bad value is logged (naming the param) and ignored."""
    fields = {k: v for k, v in defaults.items() if k != "carbon_forecast_file"}
    for key, field in (("ai_scheduler_delay_cost_per_hour", "delay_cost_per_hour"),
                       ("ai_scheduler_carbon_budget_kg", "carbon_budget_kg"), ("ai_scheduler_carbon_weight", "carbon")):
        if options.get(key) in (None, ""):
            continue
        try:
            value = float(options[key])
            if not value >= 0:
                raise ValueError
        except (TypeError, ValueError):
            log.warning("%signoring param %s=%r: expected a number ≥ 0", where, key, options[key])
            continue
        if field == "carbon":
            weights = weights.model_copy(update={"carbon": value})
        else:
            fields[field] = value
    path = defaults.get("carbon_forecast_file")
    if path:
        from airflow_ai_scheduler.catalog.carbon import load_forecast

        try:
            fields["carbon_forecast"] = load_forecast(path)
        except CatalogError as exc:  # a stale or broken forecast must not stop planning: the bundled table
            log.warning("%scarbon_forecast_file: %s; planning with the bundled intensities", where, exc)
    return fields, weights
