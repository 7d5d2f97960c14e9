"""Commands for the machine: local services and the source registry."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from crawlers.sources import load_sources
from devtools import services as svc
from tilts.shell import fail, services_app, sources_app

CLUSTER = Annotated[bool, typer.Option(
    "--cluster", help="The small cluster instead: 3 Kafka brokers and 2 Elasticsearch nodes "
                      "(devtools/services/cluster.py).")]


@services_app.command("up")
def services_up(names: Annotated[list[str] | None, typer.Argument()] = None, cluster: CLUSTER = False) -> None:
    """Provision (once) and start Kafka, Elasticsearch and PostgreSQL on 127.0.0.1."""
    started = time.monotonic()
    if cluster:
        svc.cluster.up()
    else:
        svc.up(names)
    typer.echo(f"services up in {time.monotonic() - started:.1f}s")
    services_env(cluster)


@services_app.command("down")
def services_down(names: Annotated[list[str] | None, typer.Argument()] = None, cluster: CLUSTER = False) -> None:
    """Stop the services started by `tilts services up`."""
    stopped = svc.cluster.down() if cluster else svc.down(names)
    typer.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@services_app.command("status")
def services_status(cluster: CLUSTER = False) -> None:
    """Each service's address, pid and health."""
    for name, address, pid, healthy in (svc.cluster.status() if cluster else svc.status()):
        state = "healthy" if healthy else ("starting/unhealthy" if pid else "stopped")
        typer.echo(f"{name:16} {address:26} pid={pid or '-':<8} {state}")


@services_app.command("env")
def services_env(cluster: CLUSTER = False) -> None:
    """Print shell exports pointing tilts at the services."""
    for name, value in (svc.cluster.env_exports() if cluster else svc.env_exports()).items():
        typer.echo(f"export {name}={value}")


@sources_app.command("list")
def sources_list() -> None:
    """Print the source registry, with the reason when a source is disabled."""
    for source in load_sources().values():
        state = f"disabled: {source.disabled_reason}" if source.disabled_reason else source.schedule
        typer.echo(f"{source.id:28} {source.spider:10} {source.home_url!s:48} {state}")


@sources_app.command("check")
def sources_check(
    source_id: Annotated[str | None, typer.Argument(help="One source; default all.")] = None,
    network: Annotated[bool, typer.Option("--network", help="Also fetch robots.txt and the first start URL.")] = False,
) -> None:
    """Validate the registry (and, with --network, reach each source's robots.txt and first page)."""
    from crawlers.check import check_source

    sources = load_sources()  # raises with the source and field on a bad entry
    chosen = [sources[source_id]] if source_id else list(sources.values())
    if source_id and source_id not in sources:
        raise fail(f"unknown source {source_id!r}")
    bad = 0
    for source in chosen:
        if source.disabled_reason:  # a state, not an error: it is simply not crawled
            typer.echo(f"{source.id}: disabled ({source.disabled_reason})")
            continue
        problems = check_source(source, network=network)
        bad += bool(problems)
        typer.echo(f"{source.id}: " + ("ok" if not problems else "; ".join(problems)))
    if bad:
        raise typer.Exit(code=1)
