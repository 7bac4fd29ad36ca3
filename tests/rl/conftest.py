"""The RL tests that train need torch and gymnasium (the dev group installs the CPU torch wheel).

They skip, naming the reason, only when torch is truly absent; scripts/test.sh (CI) sets
AI_SCHEDULER_REQUIRE_TORCH=1, which turns a missing torch into a failure instead.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def torch():
    if os.environ.get("AI_SCHEDULER_REQUIRE_TORCH"):
        import importlib

        importlib.import_module("gymnasium")
        return importlib.import_module("torch")
    pytest.importorskip("gymnasium", reason="gymnasium is not installed (the [rl] extra)")
    return pytest.importorskip("torch", reason="torch is not installed (the [rl] extra; CPU build: docs/dispatch.md)")
