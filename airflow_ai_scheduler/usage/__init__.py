"""What task tries used, and what follows from it.

``measure``   the measurement around a task process (CPU seconds, peak memory, GPU memory, I/O bytes)
``anomaly``   robust outlier flags of a try against its own task's history (median/MAD on log scale)
``rightsize`` requested vs used (p95) → a recommended ``Resources`` hint and the money it saves

Pure (no Airflow import): the listener that runs the measurement inside the task runner lives in
:mod:`airflow_ai_scheduler.airflow.usage_listener`, the reading and recording in the scheduler in
:mod:`airflow_ai_scheduler.airflow.usage_record`.
"""
