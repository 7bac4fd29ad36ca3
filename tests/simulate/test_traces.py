"""Trace loading: gap_seconds is read, not assumed; values > 0 mean spot is usable; bundled sets resolve."""

from __future__ import annotations

import json

import pytest

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.simulate.traces import get_traces, load_trace, trace_names


def test_reads_gap_seconds_and_counts(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"metadata": {"gap_seconds": 720}, "data": [0, 2, 1, 0]}))
    tr = load_trace(f)
    assert tr.gap_seconds == 720 and tr.step_hours == pytest.approx(0.2)
    assert tr.available == (False, True, True, False)
    assert tr.at(5) is True  # wraps around


@pytest.mark.parametrize("body", ['{"data": [1]}', '{"metadata": {"gap_seconds": 0}, "data": [1]}', "nope"])
def test_bad_files_are_config_errors(tmp_path, body):
    f = tmp_path / "bad.json"
    f.write_text(body)
    with pytest.raises(ConfigError, match="bad.json"):
        load_trace(f)


def test_bundled_sets():
    names = trace_names()
    assert len(names) == 9 and all("aws-02-15-2023" in n for n in names)
    single = get_traces("us-east-1a_v100_1")
    assert len(single) == 1 and single[0].gap_seconds == 195
    assert len(get_traces("availability/16-node/aws-08-27-2023")) == 3
    with pytest.raises(ConfigError, match="no such bundled trace"):
        get_traces("mars-1a")
