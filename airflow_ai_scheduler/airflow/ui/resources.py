"""The resource API: predicted demand, the best instance for a job, budgets.

``POST /api/predict_demand``       job profiles or a DAG → hourly demand with prediction intervals
``POST /api/get_optimal_instance`` resources (+ budget, deadline, allowed clouds/regions/tiers) → ranked offers
``POST /api/allocate_budget``      create or change a budget
``GET  /api/budgets``              budgets with their spend in the current period

Every route needs a login (Airflow's auth manager); a DAG named in a body must be readable (predict) or
editable (a DAG or task budget); owner/tag/team budgets need the right to change Airflow's configuration.
Bodies are validated pydantic models: a bad field is a 422 naming it. The ranking of offers is
:data:`RANKERS` ``[name]`` — the suitability ranking of :mod:`~airflow_ai_scheduler.planning.suitability` by
default; another ranking registers itself there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_ai_scheduler.airflow.ui.app import get_store
from airflow_ai_scheduler.airflow.ui.auth import current_user, readable_dag_ids, user_name
from airflow_ai_scheduler.budgets.model import Budget, Period, Policy, Scope
from airflow_ai_scheduler.models import Resources, Tier

router = APIRouter(tags=["resources"])
Store = Annotated[Any, Depends(get_store)]
login = [Depends(current_user)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobProfile(_In):
    job_id: str = Field(min_length=1, max_length=250)
    resources: Resources = Field(default_factory=Resources)
    duration_hours: float = Field(gt=0, le=24 * 30)
    duration_std_hours: float = Field(0.0, ge=0, le=24 * 30)
    starts: list[AwareDatetime] = Field(default_factory=list, max_length=2000, description="when runs start")
    cron: str | None = Field(None, max_length=100, description="or a cron schedule (UTC) for the runs")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, v: str | None) -> str | None:
        from croniter import croniter

        if v is not None and not croniter.is_valid(v):
            raise ValueError(f"not a valid cron expression: {v!r}")
        return v

    @model_validator(mode="after")
    def _some_runs(self) -> JobProfile:
        if not self.starts and not self.cron:
            raise ValueError("give starts or cron")
        return self


class PredictDemandRequest(_In):
    jobs: list[JobProfile] | None = Field(None, min_length=1, max_length=500)
    dag_id: str | None = Field(None, min_length=1, max_length=250, description="forecast this DAG from its "
                               "history and timetable instead of job profiles")
    horizon_hours: int = Field(24, ge=1, le=336)
    metric: Literal["task_hours", "vcpu_hours", "gpu_hours"] = "task_hours"
    levels: list[int] = Field(default_factory=lambda: [80, 95], min_length=1, max_length=5)
    by: Literal["fleet", "dag", "owner", "total"] = "dag"
    method: Literal["auto", "mean", "schedule", "seasonal_naive", "ets", "mstl", "schedule_ets"] = "auto"
    start: AwareDatetime | None = Field(None, description="job profiles: the horizon's start (default: now)")

    @model_validator(mode="after")
    def _one_source(self) -> PredictDemandRequest:
        if (self.jobs is None) == (self.dag_id is None):
            raise ValueError("give exactly one of jobs and dag_id")
        if any(not 1 <= lv <= 99 for lv in self.levels):
            raise ValueError("levels are percentages 1..99")
        return self


class DemandPoint(BaseModel):
    ds: datetime
    mean: float
    lo: dict[str, float] = Field(description="lower bound per level")
    hi: dict[str, float] = Field(description="upper bound per level")


class DemandSeries(BaseModel):
    group: str
    total: float = Field(description="sum of the mean over the horizon")
    points: list[DemandPoint]


class PredictDemandResponse(BaseModel):
    method: str
    metric: str
    fallback: bool = Field(description="little history: scheduled runs × learned runtimes, not a model")
    history_hours: int
    notes: list[str]
    series: list[DemandSeries]


class OptimalInstanceRequest(_In):
    resources: Resources = Field(default_factory=Resources)
    duration_hours: float = Field(gt=0, le=24 * 30)
    budget_usd: float | None = Field(None, ge=0)
    deadline_hours: float | None = Field(None, gt=0, le=24 * 365, description="hours from now")
    checkpointable: bool = False
    providers: list[str] | None = Field(None, min_length=1, max_length=10)
    regions: list[str] | None = Field(None, min_length=1, max_length=100)
    tiers: list[Tier] | None = Field(None, min_length=1)
    source: Literal["catalog", "fleets"] = "catalog"
    ranking: str = Field("suitability", max_length=50, description="a name in RANKERS")
    top: int = Field(10, ge=1, le=100)

    @field_validator("ranking")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in RANKERS:
            raise ValueError(f"unknown ranking {v!r}; known: {', '.join(sorted(RANKERS))}")
        return v


class RankedOffer(BaseModel):
    rank: int
    offer_id: str
    provider: str
    region: str
    instance_type: str
    tier: str
    price_per_hour: float
    expected_runtime_hours: float
    expected_cost_usd: float
    p_interruption: float
    p_miss: float
    score: float
    within_budget: bool


class OptimalInstanceResponse(BaseModel):
    ranking: str
    offers: list[RankedOffer]
    excluded: dict[str, str]


class AllocateBudgetRequest(_In):
    scope: Scope
    subject: str = Field(min_length=1, max_length=250)
    period: Period
    amount_usd: float = Field(ge=0, le=1e9)
    policy: Policy = "hold"
    note: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _task_subject(self) -> AllocateBudgetRequest:
        if self.scope == "task" and "." not in self.subject.strip(".")[1:]:
            raise ValueError('subject: a task budget names "dag_id.task_id"')
        return self


class BudgetOut(BaseModel):
    id: int | None
    scope: str
    subject: str
    period: str
    amount_usd: float
    policy: str
    note: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    spent_usd: float | None = Field(None, description="actual cost in the current window (run budgets: none)")
    remaining_usd: float | None = None


def unprocessable(field: str, msg: str) -> HTTPException:
    """A 422 in FastAPI's own shape (``detail``: list of {loc, msg, type}), so the documented schema holds."""
    return HTTPException(422, [{"loc": ["body", *field.split(".")], "msg": msg, "type": "value_error"}])


# -- ranking (swappable) ----------------------------------------------------------------------------------

def rank_by_suitability(job: Any, offers: list[Any], *, now: datetime, top: int) -> tuple[list[dict], dict]:
    from airflow_ai_scheduler.planning.suitability import rank_offers

    s = rank_offers(job, offers, None, now=now, top=top)
    return [o.model_dump() for o in s.offers], dict(s.excluded)


#: name → fn(job, offers, now=, top=) -> (ranked dicts with RankedOffer's fields but within_budget, excluded)
RANKERS: dict[str, Callable[..., tuple[list[dict], dict]]] = {"suitability": rank_by_suitability}


# -- routes -----------------------------------------------------------------------------------------------

@router.post("/predict_demand", dependencies=login, response_model=PredictDemandResponse,
             summary="Hourly demand with prediction intervals, for job profiles or a DAG")
async def predict_demand(body: PredictDemandRequest, request: Request, store: Store,
                         readable: Annotated[set[str] | None, Depends(readable_dag_ids)]) -> Any:
    from starlette.concurrency import run_in_threadpool

    if body.dag_id is not None and readable is not None and body.dag_id not in readable:
        raise HTTPException(403, f"no read access to DAG {body.dag_id!r}")
    return await run_in_threadpool(_predict, body, store, getattr(request.app.state, "dag_facts", None))


def _predict(body: PredictDemandRequest, store: Any, facts_provider: Any) -> dict[str, Any]:
    from airflow_ai_scheduler.exceptions import ForecastError

    try:
        if body.jobs is not None:
            fc = _forecast_jobs(body)
        else:
            from airflow_ai_scheduler.airflow.forecasting import build_forecast

            facts = facts_provider([body.dag_id]) if facts_provider else None
            if facts is not None and body.dag_id not in facts:
                raise HTTPException(404, f"no DAG {body.dag_id!r}")
            fc, _h, _s = build_forecast(store, store.session_scope, hours=body.horizon_hours, by=body.by,
                                        metric=body.metric, levels=body.levels, method=body.method,
                                        dag_ids=[body.dag_id], facts=facts)
    except ForecastError as exc:
        raise unprocessable(exc.field or "body", str(exc)) from None
    series = []
    for group, g in fc.frame.groupby("unique_id"):
        pts = [DemandPoint(ds=r["ds"].to_pydatetime().replace(tzinfo=timezone.utc), mean=r["mean"],
                           lo={str(lv): r[f"lo-{lv}"] for lv in fc.levels},
                           hi={str(lv): r[f"hi-{lv}"] for lv in fc.levels}) for _, r in g.iterrows()]
        series.append(DemandSeries(group=str(group), total=float(g["mean"].sum()), points=pts))
    return PredictDemandResponse(method=fc.method, metric=fc.metric, fallback=fc.fallback,
                                 history_hours=fc.history_hours, notes=fc.notes, series=series).model_dump()


def _cron_runs(cron: str, start: datetime, end: datetime, field: str) -> list[datetime]:
    from airflow_ai_scheduler.airflow.forecasting import next_run_times

    try:
        from airflow.timetables.trigger import CronTriggerTimetable

        tt = CronTriggerTimetable(cron, timezone="UTC")
        return next_run_times(tt, start, end)
    except Exception as exc:
        raise unprocessable(field, f"not a valid cron expression: {exc}") from None


def _forecast_jobs(body: PredictDemandRequest) -> Any:
    import pandas as pd

    from airflow_ai_scheduler.forecast.model import forecast_demand
    from airflow_ai_scheduler.forecast.schedule import RunProfile, TaskSlice, scheduled_demand

    start = (body.start or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=body.horizon_hours)
    profiles, runs = {}, {}
    for i, j in enumerate(body.jobs or []):
        r = j.resources
        profiles[j.job_id] = RunProfile(dag_id=j.job_id, runs_seen=0, source="profile", tasks=(TaskSlice(
            task_id=j.job_id, offset_hours=0.0, duration_hours=j.duration_hours, task_hours=j.duration_hours,
            task_hours_sd=j.duration_std_hours, fleet=j.job_id, vcpus=r.vcpus, gpus=r.gpus),))
        runs[j.job_id] = sorted([*j.starts, *(_cron_runs(j.cron, start, end, f"jobs.{i}.cron") if j.cron else [])])
    by = "dag" if body.by in ("dag", "fleet") else body.by
    sched = scheduled_demand(runs, profiles, by=by, owners={}, start=start, end=end)
    if sched.empty:  # no run in the horizon: a zero series, not an empty answer
        hours = pd.date_range(start.replace(tzinfo=None), periods=body.horizon_hours, freq="h")
        sched = pd.DataFrame({"unique_id": "total", "ds": hours, **{c: 0.0 for c in (
            "task_hours", "vcpu_hours", "gpu_hours", "task_hours_var", "vcpu_hours_var", "gpu_hours_var")}})
    empty = pd.DataFrame(columns=["unique_id", "ds", "task_hours", "vcpu_hours", "gpu_hours"])
    fc = forecast_demand(empty, body.horizon_hours, scheduled=sched, metric=body.metric, levels=body.levels,
                         method="schedule")
    fc.notes.append("job profiles: the given runs × durations, intervals from duration_std_hours")
    return fc


@router.post("/get_optimal_instance", dependencies=login, response_model=OptimalInstanceResponse,
             summary="Offers for a job, best first, with expected cost and risk")
def get_optimal_instance(body: OptimalInstanceRequest) -> Any:
    from airflow_ai_scheduler.models import Job

    ranker = RANKERS[body.ranking]
    now = datetime.now(timezone.utc)
    job = Job(job_id="request", estimated_duration_hours=body.duration_hours, resources=body.resources,
              deadline=now + timedelta(hours=body.deadline_hours) if body.deadline_hours else None,
              is_checkpointable=body.checkpointable, allowed_providers=body.providers,
              allowed_regions=body.regions, allowed_tiers=body.tiers)
    offers = _offers(body)
    ranked, excluded = ranker(job, offers, now=now, top=body.top)
    out = [RankedOffer(**{k: o[k] for k in RankedOffer.model_fields if k in o},
                       within_budget=body.budget_usd is None or o["expected_cost_usd"] <= body.budget_usd)
           for o in ranked]
    if body.budget_usd is not None:  # affordable first, each part in the ranker's order
        out = sorted(out, key=lambda o: not o.within_budget)
        for i, o in enumerate(out):
            o.rank = i + 1
    return OptimalInstanceResponse(ranking=body.ranking, offers=out, excluded=dict(list(excluded.items())[:20]))


def _offers(body: OptimalInstanceRequest) -> list[Any]:
    from airflow_ai_scheduler.airflow.ui.runs import _catalog

    if body.source == "fleets":
        from airflow_ai_scheduler.airflow.cli_forecast import fleet_facts
        from airflow_ai_scheduler.fleets.base import fleet_offers

        specs, _ = fleet_facts()
        return fleet_offers(specs, _catalog())
    return _catalog().offers()


async def _may_set(request: Request, body: AllocateBudgetRequest) -> Any:
    """DAG and task budgets: edit access to the DAG; owner, tag and team budgets: configuration access."""
    user = await current_user(request)
    if user is None:
        return None
    from starlette.concurrency import run_in_threadpool

    def check() -> None:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        am = get_auth_manager()
        if body.scope in ("dag", "task"):
            dag_id = body.subject.split(".", 1)[0] if body.scope == "task" else body.subject
            ok = am.is_authorized_dag(method="PUT", access_entity=DagAccessEntity.RUN,
                                      details=DagDetails(id=dag_id), user=user)
        else:
            ok = am.is_authorized_configuration(method="PUT", user=user)
        if not ok:
            raise HTTPException(403, f"not allowed to set a {body.scope} budget for {body.subject!r}")

    await run_in_threadpool(check)
    return user


@router.post("/allocate_budget", dependencies=login, response_model=BudgetOut, summary="Create or change a budget")
async def allocate_budget(body: AllocateBudgetRequest, request: Request, store: Store) -> Any:
    user = await _may_set(request, body)
    budget = Budget(**body.model_dump())
    from airflow_ai_scheduler.history.budget_store import BudgetStore

    saved = BudgetStore(store.session_scope).set(budget, updated_by=user_name(user))
    return BudgetOut(**saved.model_dump(), updated_by=user_name(user), updated_at=datetime.now(timezone.utc))


@router.get("/budgets", dependencies=login, response_model=list[BudgetOut],
            summary="Budgets with their spend in the current period")
def budgets(request: Request, store: Store,
            readable: Annotated[set[str] | None, Depends(readable_dag_ids)]) -> Any:
    from airflow_ai_scheduler.airflow.budgets import BudgetService

    svc = BudgetService(store.session_scope, facts=getattr(request.app.state, "dag_facts", None))
    rows = svc.status()
    if readable is not None:  # DAG and task budgets only of DAGs the user may read
        rows = [r for r in rows if r["scope"] not in ("dag", "task") or r["subject"].split(".", 1)[0] in readable]
    return rows


class ForecastChartPoint(BaseModel):
    ds: datetime
    value: float | None = None
    mean: float | None = None
    lo80: float | None = None
    hi80: float | None = None
    lo95: float | None = None
    hi95: float | None = None


class ForecastChartSeries(BaseModel):
    fleet: str
    actual: list[ForecastChartPoint] = Field(description="what happened, hour by hour")
    past_forecast: list[ForecastChartPoint] = Field(description="the forecast made `back` hours ago")
    forecast: list[ForecastChartPoint] = Field(description="the forecast from now on")
    recommended_slots: int | None = None
    configured_slots: int | None = None


class ForecastChart(BaseModel):
    method: str
    past_method: str | None
    notes: list[str]
    series: list[ForecastChartSeries]


@router.get("/forecast", dependencies=login, response_model=ForecastChart,
            summary="Task-hours per fleet: the forecast band against what happened, and recommended slots")
def forecast_chart(request: Request, store: Store,
                   readable: Annotated[set[str] | None, Depends(readable_dag_ids)],
                   hours: Annotated[int, Query(ge=1, le=168, description="horizon")] = 24,
                   back: Annotated[int, Query(ge=0, le=168, description="hours of the past forecast shown")] = 24
                   ) -> Any:
    from airflow_ai_scheduler.airflow.forecasting import build_forecast
    from airflow_ai_scheduler.exceptions import ForecastError

    facts_provider = getattr(request.app.state, "dag_facts", None)
    facts = facts_provider(None) if facts_provider else None
    if facts is None:  # read once here: the notes are filtered by the same DAGs the forecast was made from
        from airflow_ai_scheduler.airflow.forecasting import dag_facts

        with store.session_scope() as session:
            facts = dag_facts(session)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    try:
        fc, hist, _ = build_forecast(store, store.session_scope, hours=hours, facts=facts, now=now)
        past = (build_forecast(store, store.session_scope, hours=back, facts=facts, now=now - timedelta(hours=back))[0]
                if back else None)
    except ForecastError as exc:
        raise unprocessable(exc.field or "query", str(exc)) from None
    sizing = _sizing(fc)
    out = []
    fleets = sorted(set(hist["unique_id"]) | set(fc.frame["unique_id"]) | set(sizing))
    shown_from = pd_ts(now - timedelta(hours=max(back, 24) + 24))
    for f in fleets:
        h = hist[(hist["unique_id"] == f) & (hist["ds"] >= shown_from)]
        out.append(ForecastChartSeries(
            fleet=str(f), actual=[ForecastChartPoint(ds=_utc(r.ds), value=r.task_hours) for r in h.itertuples()],
            past_forecast=_band(past.frame[past.frame["unique_id"] == f]) if past is not None else [],
            forecast=_band(fc.frame[fc.frame["unique_id"] == f]),
            recommended_slots=sizing.get(f, (None, None))[0], configured_slots=sizing.get(f, (None, None))[1]))
    return ForecastChart(method=fc.method, past_method=past.method if past is not None else None,
                         notes=_readable_notes(fc.notes, facts, readable), series=out)


def _readable_notes(notes: list[str], facts: Any, readable: set[str] | None) -> list[str]:
    """The forecast's notes without those about a DAG the user may not read — a DAG's notes start with
    ``"<dag_id>: "`` (:func:`~airflow_ai_scheduler.forecast.schedule.profile_from_tasks`). A fleet's totals are
    shared capacity and stay whole; which DAGs make them up is per-DAG information."""
    if readable is None:
        return list(notes)
    hidden = tuple(f"{d}:" for d in (facts or {}) if d not in readable)
    return [n for n in notes if not n.startswith(hidden)] if hidden else list(notes)


def pd_ts(t: datetime) -> Any:
    import pandas as pd

    return pd.Timestamp(t.replace(tzinfo=None))


def _utc(ts: Any) -> datetime:
    return ts.to_pydatetime().replace(tzinfo=timezone.utc)


def _band(frame: Any) -> list[ForecastChartPoint]:
    return [ForecastChartPoint(ds=_utc(r["ds"]), mean=r["mean"], lo80=r.get("lo-80"), hi80=r.get("hi-80"),
                               lo95=r.get("lo-95"), hi95=r.get("hi-95")) for r in frame.to_dict("records")]


def _sizing(fc: Any) -> dict[str, tuple[int, int]]:
    """fleet → (recommended slots for the next hour, configured slots); empty when fleets cannot be read."""
    try:
        from airflow_ai_scheduler.airflow.cli_forecast import fleet_facts
        from airflow_ai_scheduler.forecast.sizing import size_fleets

        _specs, facts = fleet_facts()
        plan = size_fleets(fc.frame, facts)
    except Exception:  # no configured fleets readable here: the chart goes without the recommendation
        return {}
    return {fs.fleet.name: (fs.slots_for(1), fs.fleet.slots) for fs in plan.fleets}
