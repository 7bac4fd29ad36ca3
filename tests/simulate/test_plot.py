"""The plot is a real PNG."""

from __future__ import annotations

from airflow_ai_scheduler.simulate.plot import plot_cost_vs_slack


def test_writes_png(tmp_path):
    out = plot_cost_vs_slack({"a": [(1.0, 10.0), (4.0, 8.0)], "b": [(1.0, 12.0), (4.0, 12.0)]}, tmp_path / "p.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
