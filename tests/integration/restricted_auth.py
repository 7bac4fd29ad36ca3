"""An auth manager that really restricts a user per DAG, for the UI's access tests: Airflow's
SimpleAuthManager, except that non-admin users may not see DAGs whose id starts with ``it_ui_secret``
(Airflow's own API then answers 403 for them, and ``get_authorized_dag_ids`` leaves them out)."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

HIDDEN_PREFIX = "it_ui_secret"


class RestrictedAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        dag_id = getattr(details, "id", None)
        if dag_id and dag_id.startswith(HIDDEN_PREFIX) and not self._is_admin(user):
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
