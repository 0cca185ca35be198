"""`incidents run sink|worker|push`: one long-running process in the foreground.

`incidents up` starts the local stack from these; on a cluster, run as many of each as
the deployment needs (README, "Pointing it at a real Kafka cluster").
"""

from __future__ import annotations

from typing import Annotated

import typer

from incidents.common import settings_of

run_app = typer.Typer(
    help="Run one process of the platform in the foreground: sink, worker or push.",
    no_args_is_help=True,
)


@run_app.command("sink")
def sink(ctx: typer.Context) -> None:
    """The sink: Kafka -> ClickHouse, alert evaluation, and (embedded) the SQL endpoint."""
    from incidents_ops import sink_process  # lazy: aiohttp and the sink load only to run it

    raise typer.Exit(sink_process.main(settings_of(ctx)))


@run_app.command("worker")
def worker(
    ctx: typer.Context,
    worker_id: Annotated[int, typer.Option(min=1, help="Distinct per worker process.")] = 1,
    loglevel: Annotated[str, typer.Option(help="Faust's log level.")] = "info",
) -> None:
    """A Faust worker: validates, deduplicates and rolls up reports."""
    from streams.__main__ import run_worker  # lazy: faust and its loop load only for a worker

    run_worker(settings_of(ctx), worker_id, loglevel)


@run_app.command("push")
def push(ctx: typer.Context) -> None:
    """The HTTP push endpoint for upstream feeds."""
    from producers import http_push  # lazy: aiohttp loads only to serve (0.2 s per command)

    raise typer.Exit(http_push.main(settings_of(ctx)))
