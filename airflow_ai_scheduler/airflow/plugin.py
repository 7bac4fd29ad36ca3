"""The Airflow UI part: each run's plan, planned vs actual cost, and the reasons.

A FastAPI app mounted at ``/ai-scheduler`` by the api-server (JSON under ``/ai-scheduler/api/...`` and
server-rendered pages), linked from Airflow's navigation and from each DAG run's page.
"""

from __future__ import annotations

import html
from typing import Any

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/ai-scheduler"


def _auth_dependencies(enabled: bool) -> tuple[list[Any], list[Any]]:
    """(any logged-in user, read access to the path's DAG runs) through Airflow's own auth manager.

    Airflow 3 does not guard plugin apps itself: the api-server's dependencies read the JWT from the
    ``Authorization`` header or the UI's ``_token`` cookie (sent to our same-origin iframe).
    """
    if not enabled:
        return [], []
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag, requires_authenticated
    from fastapi import Depends

    return [Depends(requires_authenticated())], [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]


def create_app(store_factory: Any = None, auth: bool = True) -> Any:
    """The app; ``store_factory`` (tests) returns a HistoryStore, default: one on Airflow's session."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse

    from airflow_ai_scheduler.airflow.cli import run_report
    from airflow_ai_scheduler.airflow.ui_models import FleetOut, HistoryRow, fleets_out

    app = FastAPI(title="airflow-ai-scheduler", description="Plans and costs of DAG runs")
    user_dep, dag_dep = _auth_dependencies(auth)

    def store() -> Any:
        if store_factory is not None:
            return store_factory()
        from airflow.utils.session import create_session

        from airflow_ai_scheduler.history.store import HistoryStore

        return HistoryStore(create_session)

    # response_model given explicitly: annotations are strings here and the models are local imports
    @app.get("/api/history/{dag_id}", dependencies=dag_dep, response_model=list[HistoryRow])
    def history(dag_id: str, task_id: str | None = None, limit: int = 50) -> Any:
        return [HistoryRow.model_validate(r) for r in store().history(dag_id, task_id, limit=limit)]

    @app.get("/history/{dag_id}", response_class=HTMLResponse, dependencies=dag_dep)
    def history_page(dag_id: str, task_id: str | None = None, limit: int = 200) -> str:
        return render_history(dag_id, store().history(dag_id, task_id, limit=limit))

    @app.get("/api/fleets", dependencies=user_dep, response_model=list[FleetOut])
    def fleets() -> Any:
        return fleets_out()

    @app.get("/api/runs", dependencies=user_dep)
    def runs(dag_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                for r in store().recent_plans(dag_id, limit)]

    @app.get("/api/runs/{dag_id}/{run_id}", dependencies=dag_dep)
    def run(dag_id: str, run_id: str) -> dict[str, Any]:
        rep = run_report(store(), dag_id, run_id)
        if rep["planner"] is None and not rep["rows"]:
            raise HTTPException(404, f"no plan for {dag_id} / {run_id}")
        return rep

    @app.get("/api/runs/{dag_id}/{run_id}/llm-exchange", dependencies=dag_dep)
    def run_exchange(dag_id: str, run_id: str) -> dict[str, Any]:
        """The run plan's LLM exchange as stored: prompt, response, model, latency, tokens, outcome."""
        s = store()
        stored = s.latest_plan(dag_id, run_id)
        ex = s.llm_exchange(stored.llm_exchange_id) if stored and stored.llm_exchange_id else None
        if ex is None:
            raise HTTPException(404, f"no LLM exchange for the plan of {dag_id} / {run_id}")
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in ex.items()}

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=dag_dep)
    def run_page(dag_id: str, run_id: str) -> str:
        s = store()
        rep = run_report(s, dag_id, run_id)
        stored = s.latest_plan(dag_id, run_id)
        return render_run(rep, stored.plan if stored else None)

    @app.get("/", response_class=HTMLResponse, dependencies=user_dep)
    def index() -> str:
        return render_index(store().recent_plans(None, 100))

    return app


_CSS = ("body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2933}table{border-collapse:collapse;"
        "margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #d9e2ec;padding:.35rem .6rem;text-align:left;"
        "font-size:.9rem}th{background:#f0f4f8}.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".spot{color:#0b7a3e;font-weight:600}.on-demand{color:#1b4f9c;font-weight:600}.sum{font-size:1.05rem}")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>")


def render_run(rep: dict[str, Any], plan: Any) -> str:
    """The run page: the plan with its reasons, then what ran where and what it cost."""
    parts = [f"<h1>Plan of {_e(rep['dag_id'])} / {_e(rep['run_id'])}</h1>"
             f"<p><a href='{PREFIX}/history/{_e(rep['dag_id'])}'>history of {_e(rep['dag_id'])}</a></p>"]
    if plan is not None:
        o = plan.objective
        parts.append(f"<p class='sum'>planner <b>{_e(plan.planner)}</b> ({_e(plan.status)}), Ω {o.total:.4f}: "
                     f"expected cost ${o.cost:.6f}, tardiness {o.tardiness:.3f} h, risk {o.risk:.3f}</p>")
        if rep.get("llm"):
            x, r = rep["llm"], rep["llm"].get("repair") or {}
            parts.append(f"<p id='llm'>LLM <b>{_e(x['model'])}</b>: <b>{_e(x['outcome'])}</b> ({_e(x['reason'])}), "
                         f"{(x['latency_seconds'] or 0):.1f} s, tokens in/out {_e(x['input_tokens'])}/"
                         f"{_e(x['output_tokens'])}; repair kept {r.get('kept', 0)}, changed {r.get('changed', 0)}, "
                         f"retimed {r.get('retimed', 0)}, added {r.get('added', 0)} · "
                         f"<a href='{PREFIX}/api/runs/{_e(rep['dag_id'])}/{_e(rep['run_id'])}/llm-exchange'>"
                         f"prompt and response</a></p>")
        parts.append("<h2>Placements</h2><table id='plan'><tr><th>task</th><th>fleet</th><th>tier</th><th>where</th>"
                     "<th>start</th><th>expected end</th><th class='num'>expected $</th><th>why</th></tr>")
        for p in plan.placements:
            parts.append(f"<tr><td>{_e(p.job_id)}</td><td>{_e(p.offer_id)}</td><td class='{_e(p.tier)}'>{_e(p.tier)}</td>"
                         f"<td>{_e(p.provider)}:{_e(p.region)} {_e(p.instance_type)}</td>"
                         f"<td>{_e(p.start_time.strftime('%Y-%m-%d %H:%M:%S'))}</td>"
                         f"<td>{_e(p.expected_end_time.strftime('%H:%M:%S'))}</td>"
                         f"<td class='num'>{p.estimated_cost:.6f}</td><td>{_e(p.rationale)}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>What ran</h2><table id='tries'><tr><th>task</th><th>try</th><th>fleet</th><th>tier</th>"
                 "<th>outcome</th><th class='num'>runtime s</th><th class='num'>planned $</th>"
                 "<th class='num'>actual $</th></tr>")
    for r in rep["rows"]:
        planned = "–" if r["planned_cost"] is None else f"{r['planned_cost']:.6f}"
        parts.append(f"<tr><td>{_e(r['task'])}</td><td>{_e(r['try'])}</td><td>{_e(r['fleet'])}</td>"
                     f"<td class='{_e(r['tier'])}'>{_e(r['tier'])}</td><td>{_e(r['outcome'])}</td>"
                     f"<td class='num'>{r['runtime_s']:.1f}</td><td class='num'>{planned}</td>"
                     f"<td class='num'>{r['actual_cost']:.6f}</td></tr>")
    parts.append("</table>")
    totals = [f"actual cost <b id='actual'>${rep['actual_cost']:.6f}</b>"]
    if rep["planned_cost"] is not None:
        totals.insert(0, f"planned <b id='planned'>${rep['planned_cost']:.6f}</b>")
    if rep["planned_saving_pct"] is not None:
        totals.append(f"saving against all on-demand <b id='saving'>{rep['planned_saving_pct']:.1f} %</b>")
    parts.append(f"<p class='sum'>{' · '.join(totals)}</p>")
    return _page(f"AI Scheduler — {rep['dag_id']}", "".join(parts))


def render_history(dag_id: str, rows: list[dict[str, Any]]) -> str:
    body = ["<tr><th>run</th><th>task</th><th>try</th><th>fleet</th><th>tier</th><th>outcome</th>"
            "<th class='num'>runtime s</th><th class='num'>planned $</th><th class='num'>actual $</th></tr>"]
    for r in rows:
        planned = "–" if r["planned_cost"] is None else f"{r['planned_cost']:.6f}"
        body.append(f"<tr><td><a href='{PREFIX}/runs/{_e(dag_id)}/{_e(r['run_id'])}'>{_e(r['run_id'])}</a></td>"
                    f"<td>{_e(r['task_id'])}</td><td>{_e(r['try_number'])}</td><td>{_e(r['fleet'])}</td>"
                    f"<td class='{_e(r['tier'])}'>{_e(r['tier'])}</td><td>{_e(r['outcome'])}</td>"
                    f"<td class='num'>{r['runtime_seconds'] or 0:.1f}</td><td class='num'>{planned}</td>"
                    f"<td class='num'>{r['actual_cost'] or 0:.6f}</td></tr>")
    return _page(f"AI Scheduler — {dag_id}", f"<h1>History of {_e(dag_id)}</h1><table id='history'>"
                 f"{''.join(body)}</table>")


def render_index(plans: list[dict[str, Any]]) -> str:
    rows = []
    for p in plans:
        od = "" if p["on_demand_cost"] is None else f"{p['on_demand_cost']:.6f}"
        link = f"{PREFIX}/runs/{_e(p['dag_id'])}/{_e(p['run_id'])}"
        rows.append(f"<tr><td><a href='{link}'>{_e(p['dag_id'])} / {_e(p['run_id'])}</a></td>"
                    f"<td>{_e(p['planner'])}</td><td class='num'>{(p['objective_cost'] or 0):.6f}</td>"
                    f"<td class='num'>{od}</td></tr>")
    return _page("AI Scheduler", "<h1>Planned DAG runs</h1><table><tr><th>run</th><th>planner</th>"
                 f"<th class='num'>expected $</th><th class='num'>all on-demand $</th></tr>{''.join(rows)}</table>")


class AiSchedulerPlugin(AirflowPlugin):
    name = "ai_scheduler"

    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "AI Scheduler"}]

    external_views = [
        {"name": "AI Scheduler", "href": f"{PREFIX}/", "destination": "nav", "category": "browse",
         "url_route": "ai-scheduler"},
        {"name": "Cost plan", "href": PREFIX + "/runs/{DAG_ID}/{RUN_ID}", "destination": "dag_run",
         "url_route": "ai-scheduler-run"},
        {"name": "Cost history", "href": PREFIX + "/history/{DAG_ID}", "destination": "dag",
         "url_route": "ai-scheduler-history"},
    ]
