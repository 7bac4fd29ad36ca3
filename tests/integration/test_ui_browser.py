"""The run page in headless Chromium, served by a real ``airflow api-server`` (plan rows inserted directly)."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from dbutil import scope_for  # noqa: E402
from factories import NOW, job, manifest, offer  # noqa: E402
from harness import AirflowDeployment  # noqa: E402

from airflow_ai_scheduler.history.store import HistoryStore  # noqa: E402
from airflow_ai_scheduler.planning.greedy import GreedyPlanner  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _chromium():
    if not shutil.which(CHROMIUM):
        msg = "Debian chromium not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("AI_SCHEDULER_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def api_server():
    af = AirflowDeployment()
    try:
        af.start(components=["api-server"])
        yield af
    except BaseException:
        af.print_logs()
        raise
    finally:
        af.stop()


def test_run_page_shows_plan_rows_and_totals(api_server, tmp_path):
    from playwright.sync_api import sync_playwright

    m = manifest([job("extract"), job("train<&>", deps=["extract"])],
                 [offer("od", price=1.0), offer("s", "spot", 0.3, lam=0.01)])
    p = GreedyPlanner().plan(m)
    scope, engine = scope_for(api_server.database_url)
    store = HistoryStore(scope)
    store.save_plan("etl", "manual__1", p, m, on_demand_cost=2.0)
    store.record(dict(dag_id="etl", task_id="extract", run_id="manual__1", map_index=-1, try_number=1,
                      fleet="s", provider="aws", region="us-east-1", instance_type="type-s", tier="spot",
                      actual_start=NOW, actual_end=NOW + timedelta(hours=1), runtime_seconds=3600.0,
                      price_per_hour_at_launch=0.3, actual_cost=0.3, outcome="success"))
    engine.dispose()
    token = api_server._auth()["Authorization"].split()[1]
    base = f"http://127.0.0.1:{api_server.port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage"])
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 700})
            page = ctx.new_page()
            # the UI's session cookie, as a logged-in user's browser sends it (the deployment runs the simple
            # auth manager with every user an admin, so no login page is involved)
            ctx.add_cookies([{"name": "_token", "value": token, "url": base}])
            assert page.goto(f"{base}/ai-scheduler/runs/etl/manual__1").status == 200
            rows = page.locator("table#plan tr").all_inner_texts()
            page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
            print("screenshot:", tmp_path / "run.png")
            assert len(rows) == 1 + len(p.placements)
            for x in p.placements:
                row = next(r for r in rows if r.startswith(x.job_id))
                assert f"{x.estimated_cost:.6f}" in row and x.tier in row
            assert page.locator("#planned").inner_text() == f"${p.objective.cost:.6f}"
            assert page.locator("#actual").inner_text() == "$0.300000"
            assert page.locator("#saving").is_visible()
            assert "train<&>" in page.locator("table#plan").inner_text()  # shown as text, escaped in HTML
        finally:
            browser.close()
