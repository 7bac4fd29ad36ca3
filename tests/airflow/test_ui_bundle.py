"""The committed React bundle is what its sources build to (esbuild pinned by package-lock.json).

Runs ``npm ci`` in a copy of ``www/`` (the npm registry is reachable in CI) unless ``node_modules`` is
already there, builds into a temporary file and compares bytes. Skipped where npm is missing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from airflow_ai_scheduler.airflow.ui.app import BUNDLE, STATIC

WWW = STATIC.parent / "www"
pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("npm"), reason="npm is not installed")]


def test_committed_bundle_matches_its_sources(tmp_path):
    work = tmp_path / "www"
    shutil.copytree(WWW, work, ignore=shutil.ignore_patterns("node_modules"))
    if (WWW / "node_modules").is_dir():
        (work / "node_modules").symlink_to(WWW / "node_modules")
    else:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=work, check=True,
                       capture_output=True, timeout=300)
    out = tmp_path / "built.js"
    subprocess.run(["node", "build.mjs"], cwd=work, check=True, capture_output=True, timeout=120,
                   env={"PATH": shutil.os.environ["PATH"], "OUTFILE": str(out)})
    assert out.read_bytes() == (STATIC / BUNDLE).read_bytes(), (
        "static/ai-scheduler.js is stale: cd airflow_ai_scheduler/airflow/ui/www && npm ci && npm run build")
