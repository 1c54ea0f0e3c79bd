"""Deployments: when and how the flows run unattended (wiring only)."""

from __future__ import annotations

from typing import Final

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.nightly import ingest_upload, nightly_evaluation

NIGHTLY_CRON: Final[str] = "0 2 * * *"
TIMEZONE: Final[str] = "Europe/London"


def nightly_deployment(
    home: str, cron: str = NIGHTLY_CRON, timezone: str = TIMEZONE
) -> RunnerDeployment:
    """The nightly evaluation on a cron schedule; one run at a time (one writer)."""
    return nightly_evaluation.to_deployment(
        name="nightly",
        schedule=Cron(cron, timezone=timezone),
        concurrency_limit=1,
        parameters={"home": home},
        tags=["reval"],
        description="Ingest the inbox, fit every model, store the results.",
    )


def upload_deployment(home: str) -> RunnerDeployment:
    """Per-file ingest for the portal, run on demand, one at a time."""
    return ingest_upload.to_deployment(
        name="upload", concurrency_limit=1, parameters={"home": home}, tags=["reval"]
    )


def serve(home: str, cron: str = NIGHTLY_CRON, timezone: str = TIMEZONE) -> None:
    """Register both deployments and keep serving them until stopped."""
    from prefect import serve as prefect_serve

    prefect_serve(nightly_deployment(home, cron, timezone), upload_deployment(home))
