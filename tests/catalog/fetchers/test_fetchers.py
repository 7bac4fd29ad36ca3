"""The fetcher registry and shared helpers (catalog/fetchers/__init__.py)."""

from __future__ import annotations

import pytest

from airflow_ai_scheduler.catalog.fetchers import PriceFetcher, field
from airflow_ai_scheduler.exceptions import CatalogError


def test_default_fetchers_cover_the_three_clouds_with_catalog_shapes():
    from airflow_ai_scheduler.catalog.fetchers import default_fetchers

    fetchers = default_fetchers(["aws", "azure", "gcp"])
    assert [f.name for f in fetchers] == ["aws", "azure", "gcp"]
    assert all(isinstance(f, PriceFetcher) for f in fetchers)
    assert fetchers[1].shapes["Standard_D4s_v5"].vcpus == 4 and "n2-standard-8" in fetchers[2].shapes
    with pytest.raises(CatalogError, match="unknown provider 'oci'"):
        default_fetchers(["oci"])


@pytest.mark.parametrize("obj, kind, match", [
    pytest.param({}, None, r"Azure price response: missing field Items\[3\]\.retailPrice", id="missing"),
    pytest.param({"retailPrice": "0.1"}, float, r"field Items\[3\]\.retailPrice has unexpected type str", id="type"),
    pytest.param([1], None, r"missing field Items\[3\]\.retailPrice", id="not-a-mapping"),
])
def test_field_errors_name_the_cloud_and_the_path(obj, kind, match):
    with pytest.raises(CatalogError, match=match):
        field(obj, "retailPrice", "Azure", "Items[3]", kind)
