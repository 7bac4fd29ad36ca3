"""Trace-driven simulation of spot policies (used by ``ai-scheduler simulate`` and bench/simulate_spot.py)."""
