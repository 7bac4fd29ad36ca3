"""Factories for tiny hand-checkable manifests and offers (no catalog, no Airflow)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_ai_scheduler.models import Job, Manifest, Offer

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)


def offer(offer_id: str, tier: str = "on-demand", price: float = 1.0, *, provider: str = "aws",
          region: str = "us-east-1", vcpus: float = 8, memory_gib: float = 32, gpus: int = 0,
          gpu_type: str | None = None, lam: float = 0.0, capacity: int | None = None,
          schedule: list[tuple[float, float]] | None = None) -> Offer:
    """An offer; ``schedule`` is [(hours after NOW, price)]."""
    return Offer(
        offer_id=offer_id, provider=provider, region=region, instance_type=f"type-{offer_id}", vcpus=vcpus,
        memory_gib=memory_gib, gpus=gpus, gpu_type=gpu_type, tier=tier, price_per_hour=price,
        interruption_rate_per_hour=lam, capacity=capacity,
        price_schedule=[{"from": NOW + timedelta(hours=h), "pricePerHour": p} for h, p in schedule]
        if schedule else None,
    )


def job(job_id: str, hours: float = 1.0, deps: list[str] | None = None, **kw: Any) -> Job:
    deadline = kw.pop("deadline_h", None)
    if deadline is not None:
        kw["deadline"] = NOW + timedelta(hours=deadline)
    return Job(job_id=job_id, estimated_duration_hours=hours, dependencies=deps or [], **kw)


def manifest(jobs: list[Job], offers: list[Offer] | None = None, **kw: Any) -> Manifest:
    return Manifest(now=NOW, jobs=jobs, offers=offers, **kw)
