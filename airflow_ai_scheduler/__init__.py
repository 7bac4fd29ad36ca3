"""airflow-ai-scheduler: cost-aware planning and spot/on-demand routing for Apache Airflow 3.

The package reads as its data path:
DAG run → manifest (:mod:`.models`) → planner (:mod:`.planning`) → validated plan → executor routing
(:mod:`.airflow`) → fleet (:mod:`.fleets`) → history (:mod:`.history`) → next manifest.

Importing this package never imports Airflow: the planning core stands alone.
"""

from __future__ import annotations

__version__ = "0.1.0"
