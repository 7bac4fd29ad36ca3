"""The Airflow UI part of the provider: a FastAPI app mounted at ``/ai-scheduler`` on the api-server and a
React view (``static/ai-scheduler.js``, built from ``www/``) that Airflow's own UI loads as a plugin tab.

- :mod:`.app`       the app factory; :data:`.app.ROUTERS` lists the routers it includes (add one line there
                    to contribute another ``APIRouter``)
- :mod:`.auth`      who may see what, through Airflow's auth manager (login, per-DAG read access)
- :mod:`.runs`      JSON: runs, a run's plan/timeline/costs, history, fleets, the LLM exchange
- :mod:`.steer`     JSON: what-if re-planning and the plan approval gate
- :mod:`.run_view`  the numbers a run's page shows, assembled from the history tables (no Airflow import)
"""
