"""Demand forecasts and fleet sizes that follow them (pure code: no Airflow import).

The data path: task history rows → hourly demand per fleet / DAG / owner (:mod:`.demand`) → the
scheduled runs' expected demand from learned run profiles (:mod:`.schedule`) → a forecast with
prediction intervals (:mod:`.model`, statsforecast) → recommended slots per fleet and their cost
(:mod:`.sizing`). Airflow glue (timetables, owners, the history store) lives in
:mod:`airflow_ai_scheduler.airflow.forecasting`.

pandas and statsforecast come with the ``forecast`` extra (``pip install airflow-ai-scheduler[forecast]``);
they are imported by :mod:`.demand`, :mod:`.schedule` and :mod:`.model`, never by this package's
``__init__`` or by :mod:`.sizing`'s data classes, so the executor never pays for them.
"""

from __future__ import annotations

#: the metrics every demand frame carries, in hours of the resource per hour of wall time
METRICS = ("task_hours", "vcpu_hours", "gpu_hours")
#: the dimensions a demand frame can be grouped by
GROUPINGS = ("fleet", "dag", "owner", "total")


def missing_extra_message() -> str:
    return ("demand forecasts need the 'forecast' extra: pip install 'airflow-ai-scheduler[forecast]' "
            "(pandas and statsforecast)")
