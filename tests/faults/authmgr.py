"""An auth manager that really restricts a user to some DAGs (Airflow's SimpleAuthManager gives every
user every DAG): user ``outsider`` (role viewer) may read every DAG but those in :data:`HIDDEN`. Lists go
through ``filter_authorized_dag_ids``, which asks ``is_authorized_dag`` per DAG."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

HIDDEN = frozenset({"f_secret"})
OUTSIDER = "outsider"


class FaultsAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        if getattr(user, "username", None) == OUTSIDER and details is not None and details.id in HIDDEN:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
