"""The one typed reader of ``[ai_scheduler]``: the executor, the planning operator, the CLI and the UI
all get their options, fleets, offers and planner arguments from a :class:`Settings`.

Options are read once (:func:`load_settings`, never at import time), each converted to the type the
provider metadata declares for it (``get_provider_info()["config"]``), and checked: a value of the wrong
type, an unknown planner, spot policy, dispatch policy or fleet backend, or a malformed fleet list raises
:class:`~airflow_ai_scheduler.exceptions.ConfigError` naming the option — the executor's ``start()``
fails with it, as Airflow fails on an unknown executor name, instead of quietly using a default.

This module never imports Airflow at module level; :func:`load_settings` reads Airflow's ``conf`` inside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION
from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.models import Offer, Weights

#: option → how its text becomes a value (from the type the provider metadata declares)
_CONVERT: dict[str, Callable[[str], Any]] = {"string": str, "float": float, "integer": int}


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "t", "1", "yes", "y", "on"):
        return True
    if value in ("false", "f", "0", "no", "n", "off", ""):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def declared_types() -> dict[str, str]:
    """Option → declared type (string, float, integer, boolean), from the provider metadata."""
    from airflow_ai_scheduler.get_provider_info import get_provider_info

    options = get_provider_info()["config"][SECTION]["options"]
    return {name: str(opt.get("type", "string")) for name, opt in options.items()}


def parse_options(raw: Mapping[str, str]) -> dict[str, Any]:
    """Every option converted to its declared type; one ConfigError listing each bad option."""
    types = declared_types()
    values: dict[str, Any] = {}
    problems = []
    for name, default in CONFIG_DEFAULTS.items():
        text = str(raw.get(name, default)).strip()
        kind = types.get(name, "string")
        convert = _boolean if kind == "boolean" else _CONVERT.get(kind, str)
        if not text and kind in ("float", "integer"):
            values[name] = None  # an optional number left empty (e.g. approval_timeout_minutes)
            continue
        try:
            values[name] = convert(text)
        except ValueError:
            problems.append(f"[{SECTION}] {name} must be {'an' if kind == 'integer' else 'a'} {kind}, got {text!r}")
    if problems:
        raise ConfigError("\n".join(problems))
    return values


@dataclass(frozen=True)
class Settings:
    """``[ai_scheduler]``, typed. ``values`` holds every option by name (options added later included);
    the properties are the ones the code uses by name."""

    values: Mapping[str, Any]
    fleets: tuple[Any, ...] = field(default=())  # FleetSpec, parsed from fleets / fleets_file

    # -- typed views ------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(name)

    @property
    def weights(self) -> Weights:
        return Weights(cost=self.values["cost_weight"], tardiness=self.values["tardiness_weight"],
                       risk=self.values["risk_weight"], carbon=self.values["carbon_weight"])

    @cached_property
    def manifest_defaults(self) -> dict[str, Any]:
        """Manifest fields every run starts from: delayCostPerHour, commitments (configured, and the fleets'
        reserved instances), the carbon forecast file to read at planning (airflow/objective_options.py)."""
        from airflow_ai_scheduler.airflow.objective_options import manifest_defaults

        return manifest_defaults(lambda k: "" if self.values.get(k) is None else str(self.values[k]), list(self.fleets))

    @property
    def llm_conn_id(self) -> str | None:
        return self.values["llm_conn_id"] or None

    @property
    def llm_model(self) -> str | None:
        return self.values["llm_model"] or None

    @cached_property
    def catalog(self) -> Any:
        """The price catalog every part prices with: ``catalog_path`` when set, else the bundled snapshot."""
        from airflow_ai_scheduler.catalog import bundled_catalog, load_catalog

        path = self.values["catalog_path"]
        if not path:
            return bundled_catalog()
        try:
            return load_catalog(path)
        except Exception as exc:
            raise ConfigError(f"[{SECTION}] catalog_path {path!r} cannot be read: {exc}") from None

    @cached_property
    def offers(self) -> list[Offer]:
        """One offer per fleet (offerId = fleet name), priced from :attr:`catalog`."""
        from airflow_ai_scheduler.fleets.base import fleet_offers

        return fleet_offers(list(self.fleets), self.catalog)

    @property
    def fleet_map(self) -> dict[str, Any]:
        return {f.name: f for f in self.fleets}

    # -- planners -------------------------------------------------------------------------------------
    def planner_call(self, options: Mapping[str, Any] | None = None, *, planner: str | None = None,
                     time_limit_seconds: float | None = None, model: str | None = None,
                     job_docs: Mapping[str, str] | None = None, history: Any = None) -> tuple[str, dict[str, Any]]:
        """(planner name, constructor kwargs): the one place a planner is configured, for the executor,
        the planning operator and the CLI. A run's ``options`` (DAG params / run conf:
        ``ai_scheduler_planner``, ``ai_scheduler_llm_model``) win over the config; explicit arguments (the
        operator's own) win over both."""
        options = options or {}
        name = str(planner or options.get("ai_scheduler_planner") or self.values["planner"])
        limit = float(time_limit_seconds if time_limit_seconds is not None
                      else self.values["planner_time_limit_seconds"])
        kwargs: dict[str, Any] = {}
        if name == "optimal":
            kwargs["time_limit_seconds"] = limit
        elif name == "llm":
            kwargs["fallback_time_limit_seconds"] = limit
            kwargs["timeout_seconds"] = float(self.values["llm_timeout_seconds"])
            if self.llm_conn_id:  # the key comes from the connection; a chosen model overrides its model
                kwargs["conn_id"] = self.llm_conn_id
            chosen = model or options.get("ai_scheduler_llm_model") or self.llm_model
            if chosen:
                kwargs["model"] = str(chosen)
            if job_docs:
                kwargs["job_docs"] = dict(job_docs)
            if history is not None:
                kwargs["history"] = history
        return name, kwargs

    def approval_for(self, options: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The plan-approval request a run's options ask for (``ai_scheduler_require_approval``), or None:
        ``{"timeout_minutes": ..., "on_timeout": "approve" | "reject"}``."""
        options = options or {}
        wanted = options.get("ai_scheduler_require_approval")
        if isinstance(wanted, str):
            wanted = wanted.strip().lower() in ("1", "true", "yes", "on")
        if not wanted:
            return None
        timeout = options.get("ai_scheduler_approval_timeout_minutes", self.values.get("approval_timeout_minutes"))
        return {"timeout_minutes": float(timeout) if timeout not in (None, "") else None,
                "on_timeout": str(options.get("ai_scheduler_approval_on_timeout")
                                  or self.values.get("approval_on_timeout") or "reject")}

    def dispatch_options_for(self, spec: Any) -> dict[str, Any]:
        """Keyword options of a fleet's dispatch policy: ``[ai_scheduler] dispatch_options`` (JSON) for the
        default policy, overridden key by key by the fleet's own ``dispatch_options``."""
        import json

        raw = self.values.get("dispatch_options") or "{}"
        try:
            common = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"[{SECTION}] dispatch_options is not valid JSON: {exc}") from None
        if not isinstance(common, dict):
            raise ConfigError(f"[{SECTION}] dispatch_options must be a JSON object, got {raw!r}")
        if spec.dispatch_policy and spec.dispatch_policy != self.values["dispatch_policy"]:
            common = {}  # the options of the default policy do not apply to another one
        return {**common, **(spec.dispatch_options or {})}

    # -- checks ---------------------------------------------------------------------------------------
    def check(self) -> Settings:
        """Resolve every named thing now (planner, spot policy, dispatch policies, fleet backends), so a
        typo fails the executor's start naming the option rather than every run quietly falling back."""
        from airflow_ai_scheduler.dispatch import get_policy as get_dispatch_policy
        from airflow_ai_scheduler.fleets.base import backend_class
        from airflow_ai_scheduler.planning.base import is_planner, planner_names
        from airflow_ai_scheduler.recovery import get_policy as get_spot_policy

        planner = self.values["planner"]
        if not is_planner(planner):
            raise ConfigError(f"[{SECTION}] planner: unknown planner {planner!r}; choose one of {planner_names()} "
                              "or an importable path such as mypkg.planners:MyPlanner")
        get_spot_policy(self.values["spot_policy"])
        for spec in self.fleets:
            backend_class(spec)
            try:
                get_dispatch_policy(spec.dispatch_policy or self.values["dispatch_policy"],
                                    **self.dispatch_options_for(spec))
            except ConfigError as exc:
                if not spec.dispatch_policy and not spec.dispatch_options:
                    raise
                raise ConfigError(f"[{SECTION}] fleet {spec.name!r} dispatch_policy: {exc}") from None
        for name in ("planner_time_limit_seconds", "llm_timeout_seconds"):
            if self.values[name] <= 0:
                raise ConfigError(f"[{SECTION}] {name} must be > 0, got {self.values[name]}")
        if self.values.get("approval_on_timeout") not in (None, "approve", "reject"):
            raise ConfigError(f"[{SECTION}] approval_on_timeout must be approve or reject, "
                              f"got {self.values['approval_on_timeout']!r}")
        for name in ("plan_wait_seconds", "max_hold_seconds", "default_duration_hours", "cost_weight",
                     "tardiness_weight", "risk_weight", "preemption_retries", "history_lookback_runs",
                     "carbon_weight", "delay_cost_per_hour"):
            if self.values[name] < 0:
                raise ConfigError(f"[{SECTION}] {name} must be >= 0, got {self.values[name]}")
        _ = self.manifest_defaults  # a malformed commitments option fails the start, naming it
        return self


def settings_from(raw: Mapping[str, str]) -> Settings:
    """Settings from option texts (missing ones take their defaults); fleets parsed, names not resolved."""
    from airflow_ai_scheduler.fleets.base import load_fleets

    values = parse_options(raw)
    fleets = load_fleets(values["fleets"], values["fleets_file"])
    return Settings(values=values, fleets=tuple(fleets))


def load_settings(conf: Any = None, *, check: bool = True) -> Settings:
    """``[ai_scheduler]`` from Airflow's config (or ``conf``: anything with ``get(section, key, fallback=)``,
    e.g. an executor's team-aware ``ExecutorConf``), typed and — with ``check`` — fully resolved."""
    if conf is None:
        from airflow.configuration import conf as airflow_conf

        conf = airflow_conf
    raw = {name: conf.get(SECTION, name, fallback=default) for name, default in CONFIG_DEFAULTS.items()}
    settings = settings_from({k: v for k, v in raw.items() if v is not None})
    return settings.check() if check else settings
