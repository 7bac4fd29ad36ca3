"""Process checks shared by tests (tests/ is on sys.path)."""

from __future__ import annotations


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie is gone for our purpose: init reaps it later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
