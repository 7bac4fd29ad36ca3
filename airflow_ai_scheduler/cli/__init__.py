"""``ai-scheduler``: the planning core from the command line (no Airflow needed)."""
