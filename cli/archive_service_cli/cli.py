"""The `archive-service` command."""

from __future__ import annotations

import asyncio
import errno
import os
import shlex
import signal
import sys
import tempfile
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import apsw
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from archive_service.datadir import DAEMON_LOCK, DataDirLock
from archive_service.errors import ArchiveServiceError, ConfigError, InvalidInputError, StoreError
from archive_service.plugins import backend_factories, plugin_manager
from archive_service_cli.hookspecs import with_application_hooks

if TYPE_CHECKING:
    from archive_service.config import Config
    from archive_service.interface import PublishResult
    from archive_service.manager import MigrationReport
    from archive_service.node import ArchiveNode
    from archive_service_cli.demo import DemoResult

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="status-go community history archives over BitTorrent and Codex.",
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """status-go community history archives over BitTorrent and Codex."""


@app.command()
def plugins() -> None:
    """List installed backend plugins.

    Example: archive-service plugins
    """
    pm = plugin_manager()
    table = Table("backend", "plugin", "description")
    for name, factory in sorted(backend_factories(pm).items()):
        table.add_row(name, factory.backend_class.__module__, factory.description)
    console.print(table)


@app.command()
def generate(
    db: Annotated[Path, typer.Option(help="SQLite store to fill (created when missing)")],
    messages: Annotated[int, typer.Option(help="messages to generate")] = 100_000,
    days: Annotated[float, typer.Option(help="days the history spans")] = 28.0,
    topics: Annotated[int, typer.Option(help="content topics, universal channel included")] = 5,
    seed: Annotated[int, typer.Option(help="same seed, same community and messages")] = 1,
    start_ts: Annotated[
        int | None,
        typer.Option(help="unix seconds of the first message (default: 2024-01-01 00:00 UTC)"),
    ] = None,
) -> None:
    """Fill a store with a synthetic community history: its owner key and chats, and N
    messages over D days across T content topics (the universal -memberUpdate channel plus
    T-1 chats), chat-sized payloads with occasional media. Deterministic for a seed; running it
    twice adds nothing.

    Examples:

      archive-service generate --db history.sqlite

      archive-service generate --db big.sqlite --messages 1000000 --days 365 --topics 20

      archive-service generate --db recent.sqlite --start-ts $(( $(date +%s) - 28*86400 ))
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from archive_service.errors import ArchiveServiceError
    from archive_service.ids import community_hex, topic_hex
    from archive_service.store import Store
    from archive_service_cli.synthetic import DEFAULT_START_TS, check_arguments, generate_history

    try:
        check_arguments(messages, days, topics)  # before the database file is created
        with (
            Store(db, cache_mb=256) as store,
            Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("generating messages", total=max(messages, 0))
            summary = generate_history(
                store,
                messages=messages,
                days=days,
                topics=topics,
                seed=seed,
                start_ts=DEFAULT_START_TS if start_ts is None else start_ts,
                progress=lambda done: bar.update(task, completed=done),
            )
    except ArchiveServiceError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("database", str(db))
    table.add_row("community", community_hex(summary.community_id))
    table.add_row("topics", ", ".join(topic_hex(t) for t in summary.topics))
    table.add_row("window", f"[{summary.start_ts}, {summary.end_ts}) unix seconds")
    table.add_row("messages", f"{summary.messages:,} ({summary.new_messages:,} new)")
    table.add_row("payload", f"{summary.payload_bytes / 1e6:,.1f} MB")
    table.add_row(
        "rate", f"{summary.messages_per_second:,.0f} messages/s in {summary.seconds:.1f} s"
    )
    console.print(table)


@app.command()
def compare(
    messages: Annotated[
        int | None, typer.Option(help="messages in the generated history [default: 20000]")
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="days the history spans, weekly archives [default: 28]")
    ] = None,
    topics: Annotated[
        int | None, typer.Option(help="content topics, universal channel included [default: 5]")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the history [default: 1]")] = None,
    encrypted: Annotated[bool, typer.Option(help="encrypt archives with a group key")] = False,
    backends: Annotated[str, typer.Option(help="comma-separated, in run order")] = "torrent,codex",
    db: Annotated[Path | None, typer.Option(help="take the history from this store")] = None,
    out: Annotated[Path, typer.Option(help="for compare.json/.html and logs")] = Path(
        "compare-report"
    ),
    repeat: Annotated[int, typer.Option(help="runs per backend: median and min–max")] = 1,
    timeout: Annotated[float, typer.Option(help="seconds each side of a run may take")] = 600.0,
    members: Annotated[int | None, typer.Option(help="scenario: member processes (1-20)")] = None,
    owner_uplink: Annotated[int | None, typer.Option(help="scenario: owner uplink, bit/s")] = None,
    member_downlink: Annotated[int | None, typer.Option(help="scenario: bit/s")] = None,
    member_uplink: Annotated[int | None, typer.Option(help="scenario: bit/s")] = None,
    owner_leaves: Annotated[
        str | None, typer.Option(help="scenario: never, after-publish, after-first-complete")
    ] = None,
    late_joiners: Annotated[
        int | None, typer.Option(help="scenario: join after owner left")
    ] = None,
    churn: Annotated[
        bool | None, typer.Option("--churn/--no-churn", help="scenario: leave when finished")
    ] = None,
    shaping: Annotated[
        str | None, typer.Option(help="scenario: auto, namespace or application")
    ] = None,
    scenario: Annotated[str | None, typer.Option(help="scenario TOML file or preset")] = None,
    codex_profile: Annotated[
        str, typer.Option(help="Codex simulator profile: name or TOML file")
    ] = "measured-2026-11",
) -> None:
    """A/B run: the same history through each backend, owner and member in their own processes
    on 127.0.0.1. Prints a table and writes compare.json and a self-contained compare.html.
    Any scenario option (--members, shaping, --owner-leaves, --late-joiners, --churn,
    --scenario FILE|small-community|large-community|owner-gone) runs a community scenario
    instead and writes scenario.json and scenario.html.

    Examples:

      archive-service compare

      archive-service compare --messages 2000 --days 14 --out /tmp/ab

      archive-service compare --repeat 5 --encrypted --backends torrent,codex

      archive-service compare --db history.sqlite --backends codex

      archive-service compare --scenario large-community --messages 5000
    """
    from archive_service_cli.compare import CompareSettings, run_cli
    from archive_service_cli.scenario import HistoryShape

    # Only the history options given: they also override a scenario preset's history.
    given = {"messages": messages, "days": days, "topics": topics, "seed": seed}
    history = {key: value for key, value in given.items() if value is not None}
    settings = CompareSettings(
        history=HistoryShape(**history),
        history_options=history,
        encrypted=encrypted,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        repeat=repeat,
        db=db,
        out=out,
        timeout=timeout,
        codex_profile=codex_profile,
        scenario_options={
            "members": members,
            "owner_uplink": owner_uplink,
            "member_downlink": member_downlink,
            "member_uplink": member_uplink,
            "owner_leaves": owner_leaves,
            "late_joiners": late_joiners,
            "churn": churn,
            "engine": shaping,
            "scenario": scenario,
        },
    )
    if settings.is_scenario:  # compare is below the swarm runner (it uses compare's helpers)
        from archive_service_cli.swarm import run_scenario_cli

        raise typer.Exit(run_scenario_cli(settings, console))
    raise typer.Exit(run_cli(settings, console))


# Node commands ---------------------------------------------------------------------------------
DataDir = Annotated[
    Path, typer.Option("--data-dir", "-d", help="node directory: archive-service.sqlite, backends")
]
ConfigFile = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")]
Backends = Annotated[
    str | None, typer.Option("--backends", "-b", help="comma-separated enabled backends")
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="config override KEY=VALUE (dotted key, TOML value); repeatable"),
]
CommunityOpt = Annotated[
    str | None,
    typer.Option("--community", help="community ID (0x + 66 hex); default: the only one"),
]


def _config(
    data_dir: Path,
    config: Path | None,
    backends: str | None,
    sets: list[str] | None,
    **extra: object,
) -> Config:
    from archive_service.config import load_config

    global _data_dir_in_use
    _data_dir_in_use = data_dir
    overrides: dict[str, object] = {"data_dir": str(data_dir), **extra}
    if backends:
        overrides["enabled"] = [b.strip() for b in backends.split(",") if b.strip()]
    for item in sets or []:
        key, value = _parse_set(item)
        overrides[key] = value
    return load_config(config, overrides=overrides)


def _parse_set(item: str) -> tuple[str, object]:
    """KEY=VALUE; arrays, tables and booleans are read as TOML, the rest stays a string that
    the setting's type converts (as environment variables)."""
    import tomllib

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. owner.interval=3600")
    text = value.strip()
    if text[:1] in ("[", "{") or text in ("true", "false"):
        try:
            return key.strip(), tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from None
    return key.strip(), text


def _check_community(community: str | None) -> None:
    """A malformed --community is refused before any node starts."""
    if community is not None:
        from archive_service.ids import parse_community_id

        parse_community_id(community)


def _require_database(cfg: Config) -> None:
    if not cfg.database.exists():
        raise StoreError(
            f"database {cfg.database} does not exist; create it with "
            f"`archive-service generate --db {cfg.database}` or pass the right --data-dir"
        )


def _open_node(cfg: Config, *plugins: object) -> ArchiveNode:
    from archive_service.node import ArchiveNode

    _require_database(cfg)
    return ArchiveNode.open(cfg, plugins=plugins)


def _writer(cfg: Config) -> DataDirLock:
    """The data dir's writer lock, naming this command for whoever is refused."""
    return DataDirLock(cfg.data_dir, _command_line())


def _command_line() -> str:
    line = shlex.join(["archive-service", *sys.argv[1:]])
    return line if len(line) <= 200 else line[:199] + "…"


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]


@app.command()
def create(
    data_dir: DataDir,
    community: CommunityOpt = None,
    start: Annotated[
        int | None,
        typer.Option(
            "--from", help="unix seconds; default: the last archive's end, else the oldest message"
        ),
    ] = None,
    end: Annotated[int | None, typer.Option("--to", help="unix seconds; default: now")] = None,
    config: ConfigFile = None,
    backends: Backends = None,
    sets: Sets = None,
) -> None:
    """Owner: create archives for [from, to) with every backend of owner.distribution, seed
    them, and write each signed link message to DATA_DIR/outbox/.

    Examples:

      archive-service generate --db owner/archive-service.sqlite --days 28

      archive-service create -d owner --to 1706486400 --set owner.distribution='["torrent"]'

      archive-service create -d owner --backends torrent,codex \\
          --set backend.codex.api_url=http://127.0.0.1:8080/api/codex/v1
    """
    from archive_service_cli import operations
    from archive_service_cli.progress import EventProgress

    _check_community(community)
    cfg = _config(data_dir, config, backends, sets)
    outbox = operations.Outbox(cfg.data_dir / operations.OUTBOX)

    async def go() -> tuple[int, int, dict[str, PublishResult]]:
        with EventProgress(console) as bars:
            node = _open_node(cfg, outbox.bus(), operations.event_recorder("owner", bars.on_event))
            try:  # a bad community or range is refused before any backend starts
                chosen = operations.controlled_community(node, community)
                operations.archive_range(node, chosen, start, end)
            except BaseException:
                await node.stop()
                raise
            async with node:
                return await operations.create(node, chosen, start, end)

    _require_database(cfg)
    with _writer(cfg):
        first, last, results = _run(go)
    if results:
        table = Table(
            "backend", "new archives", "index size", "stored", "link", title=f"[{first}, {last})"
        )
        for name, result in results.items():
            table.add_row(
                name,
                str(len(result.archive_ids)),
                str(result.index_size),
                f"{result.bytes_stored / 1e6:,.2f} MB",
                result.link or "(unchanged)",
            )
        console.print(table)
    else:
        console.print(f"nothing new to archive since {first}; committed links are announced")
    for backend, _, path in outbox.written:
        console.print(f"signed {backend} link message: {path}")


@app.command()
def seed(
    data_dir: DataDir,
    config: ConfigFile = None,
    backends: Backends = None,
    sets: Sets = None,
) -> None:
    """Owner daemon: seed the existing archives of every community this node controls and run
    the archive interval (owner.interval) until Ctrl-C. One daemon per data dir; it takes the
    data dir's writer lock only while it writes, so `create` and `migrate` may run meanwhile:
    what they commit is seeded and announced again by the daemon.

    Examples:

      archive-service seed -d owner

      archive-service seed -d owner --set owner.interval=3600
    """
    from archive_service_cli import operations

    cfg = _config(data_dir, config, backends, sets)
    outbox = operations.Outbox(cfg.data_dir / operations.OUTBOX)
    stop = asyncio.Event()

    async def go() -> None:
        node = _open_node(
            cfg,
            outbox.bus(),
            operations.event_recorder(
                "owner",
                lambda _node, e: console.print(
                    f"[dim]{e.type}[/dim] {e.backend} {getattr(e, 'link', '')}"
                ),
            ),
        )
        async with node:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            daemon = operations.SeedDaemon(node, _writer(cfg), say=console.print)
            owned = await daemon.run(
                stop,
                lambda owned: console.print(
                    f"seeding {len(owned)} community(ies); links announced again; Ctrl-C stops"
                ),
            )
            console.print(f"stopped; was seeding {len(owned)} community(ies)")

    _require_database(cfg)
    # One daemon per data dir; the writer lock it takes only while it writes.
    with DataDirLock(cfg.data_dir, _command_line(), name=DAEMON_LOCK):
        _run(go)


@app.command()
def fetch(
    data_dir: DataDir,
    message: Annotated[Path | None, typer.Option(help="signed link message file (outbox)")] = None,
    link: Annotated[str | None, typer.Option(help="a magnet link or index CID")] = None,
    community: CommunityOpt = None,
    join: Annotated[bool, typer.Option(help="join the community if not a member yet")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="join the community the link message's signature recovers to without --community",
        ),
    ] = False,
    config: ConfigFile = None,
    backends: Backends = None,
    sets: Sets = None,
) -> None:
    """Member: accept a signed link message (signature, membership, clock and novelty checked)
    or a bare link (as from a request-to-join response), download and import the archives.

    Examples:

      archive-service fetch -d member --join --community 0x02… \\
          --message owner/outbox/0x02…-torrent.msg

      archive-service fetch -d member --join --community 0x02… --link zDvZRwzm…
    """
    from archive_service_cli import operations
    from archive_service_cli.progress import EventProgress

    _check_community(community)
    cfg = _config(data_dir, config, backends, sets)
    raw = operations.read_input(message, "link message") if message is not None else None

    async def go() -> operations.FetchResult:
        with EventProgress(console) as bars:
            from archive_service.node import ArchiveNode

            node = ArchiveNode.open(
                cfg, plugins=[operations.event_recorder("member", bars.on_event)]
            )
            async with node:
                return await operations.fetch(
                    node, message=raw, link=link, community=community, join=join, confirmed=yes
                )

    with _writer(cfg):
        result = _run(go)
    if not result.decision.accepted:
        err_console.print(f"link refused: {result.decision.reason}")
        raise typer.Exit(2)
    table = Table("backend", "archives", "downloaded", "skipped", "failed", "bytes", "cancelled")
    for run in result.runs:
        table.add_row(
            run.backend,
            str(run.total_archives),
            str(run.downloaded),
            str(run.skipped),
            str(run.failed),
            f"{run.bytes_downloaded:,}",
            str(run.cancelled),
        )
    console.print(table)
    console.print(
        f"imported {result.imported_messages:,} new messages; "
        f"{result.pending_imports} archive(s) still to import"
    )
    if any(run.failed for run in result.runs) or not result.runs:
        raise typer.Exit(1)


@app.command()
def migrate(
    data_dir: DataDir,
    community: CommunityOpt = None,
    source: Annotated[str, typer.Option("--from", help="backend holding the history")] = "torrent",
    target: Annotated[str, typer.Option("--to", help="backend to republish with")] = "codex",
    config: ConfigFile = None,
    backends: Backends = None,
    sets: Sets = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the ID mapping")] = None,
) -> None:
    """Owner: republish the history stored by one backend with another (default BitTorrent →
    Codex): the same archive bytes, without reading the message store. Prints the mapping
    from source archive ID to target archive ID; re-running skips what is already there.

    Examples:

      archive-service migrate -d owner --backends torrent,codex

      archive-service migrate -d owner --from torrent --to codex --json mapping.json
    """
    from archive_service_cli import operations

    _check_community(community)
    if source == target:  # the manager refuses it too; here before any backend starts
        raise InvalidInputError(
            f"migration source and target are both {source!r}; name two different backends"
        )
    cfg = _config(data_dir, config, backends, sets)
    outbox = operations.Outbox(cfg.data_dir / operations.OUTBOX)

    async def go() -> MigrationReport:
        node = _open_node(cfg, outbox.bus())
        async with node:
            chosen = operations.controlled_community(node, community)
            return await operations.migrate(node, chosen, source, target)

    _require_database(cfg)
    with _writer(cfg):
        report = _run(go)
    source, target = report.source, report.target  # backend names, aliases resolved
    table = Table(f"{source} archive ID", f"{target} archive ID")
    for old, new in report.mapping.items():
        table.add_row(old, new)
    console.print(table)
    console.print(
        f"migrated {len(report.mapping)}, already there {len(report.skipped)}; "
        f"{target} link: {report.link or '(unchanged)'}"
    )
    if json_out is not None:
        json_out.write_text(
            operations.to_json(
                {
                    "source": source,
                    "target": target,
                    "link": report.link,
                    "mapping": report.mapping,
                    "skipped": report.skipped,
                }
            )
        )


@app.command()
def inspect(
    target: Annotated[
        str,
        typer.Argument(
            help="a file (index, archive, .torrent, link message) or a magnet link / CID"
        ),
    ],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", "-d", help="node whose keys decrypt")
    ] = None,
    community: CommunityOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    no_limits: Annotated[
        bool,
        typer.Option(
            "--no-limits",
            help="lift the caps a member applies (file and index bytes, index entries)",
        ),
    ] = False,
) -> None:
    """Decode an index, archive, .torrent, magnet link, link message or CID; encrypted ones
    are decrypted with the group keys of the node given by --data-dir. Files over the caps a
    member applies are refused unless --no-limits is given. Exits 1 when the input cannot be
    decoded or decrypted (what could be read is still printed).

    Examples:

      archive-service inspect owner/torrent/archivedata/0x02…/index

      archive-service inspect owner/outbox/0x02…-codex.msg --json

      archive-service inspect 'magnet:?xt=urn:btih:…'

      archive-service inspect zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy
    """
    from archive_service.config import load_config
    from archive_service.crypto.hashratchet import HashRatchet
    from archive_service.store import Store
    from archive_service_cli import operations
    from archive_service_cli.inspect import MEMBER_LIMITS

    node_store = None
    crypto = None
    if data_dir is not None:
        cfg = load_config(overrides={"data_dir": str(data_dir)})
        node_store = Store(cfg.database, create=False)
        crypto = HashRatchet(node_store)
    try:
        found = operations.inspect_target(
            target, crypto, community, None if no_limits else MEMBER_LIMITS
        )
    finally:
        if node_store is not None:
            node_store.close()
    if as_json:
        console.print_json(operations.to_json(found))
    else:
        console.print(operations.render_tree(found))
    if "error" in found:
        err_console.print(f"[red]error:[/red] {escape(str(found['error']))}", soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def demo(
    messages: Annotated[int, typer.Option(help="messages in the generated history")] = 50_000,
    days: Annotated[float, typer.Option(help="days the history spans (weekly archives)")] = 56.0,
    topics: Annotated[int, typer.Option(help="content topics, universal channel included")] = 5,
    seed_: Annotated[int, typer.Option("--seed", help="seed of the generated history")] = 1,
    backends: Annotated[
        str, typer.Option(help="comma-separated backends to run")
    ] = "torrent,codex",
    preference: Annotated[str, typer.Option(help="member's backend order")] = "codex,torrent",
    encrypted: Annotated[bool, typer.Option(help="encrypt archives with a group key")] = False,
    members: Annotated[int, typer.Option(help="members downloading")] = 1,
    workdir: Annotated[
        Path | None, typer.Option(help="keep the nodes' data here (default: a temporary directory)")
    ] = None,
) -> None:
    """The whole flow on 127.0.0.1: generate a community history, start an owner and members
    (libtorrent sessions and local Codex nodes), create, distribute, download and import, and
    verify every member ends with exactly the owner's messages.

    Examples:

      archive-service demo

      archive-service demo --backends torrent --messages 200000 --days 365

      archive-service demo --encrypted --members 2 --workdir demo-run
    """
    from archive_service_cli.demo import run_demo
    from archive_service_cli.progress import EventProgress

    names = [b.strip() for b in backends.split(",") if b.strip()]
    order = [b.strip() for b in preference.split(",") if b.strip()]

    async def go(work: Path) -> DemoResult:
        with EventProgress(console) as bars:
            return await run_demo(
                work,
                backends=names,
                preference=order,
                messages=messages,
                days=days,
                topics=topics,
                seed=seed_,
                encrypted=encrypted,
                members=members,
                on_event=bars.on_event,
            )

    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(go(workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="archive-demo-") as tmp:
            result = asyncio.run(go(Path(tmp)))
    _print_demo(result)
    if not result.identical:
        raise typer.Exit(3)


def _print_demo(result: DemoResult) -> None:
    from archive_service.ids import community_hex

    published = Table(
        "backend",
        "archives",
        "stored on owner",
        "link",
        title=f"owner of {community_hex(result.community_id)}",
    )
    for name, outcome in result.published.items():
        published.add_row(
            name, str(outcome.archives), f"{outcome.bytes_stored / 1e6:,.2f} MB", outcome.link
        )
    console.print(published)
    members = Table("member", "downloaded via", "windows skipped via", "messages", "identical")
    for i, (via, skipped, count) in enumerate(
        zip(result.downloaded_via, result.skipped_via, result.member_messages, strict=True)
    ):
        members.add_row(
            f"member{i + 1}",
            _counts(via),
            _counts(skipped),
            f"{count:,}",
            "[green]yes[/green]" if result.identical else "[red]NO[/red]",
        )
    console.print(members)
    timings = " · ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    console.print(f"owner messages: {result.owner_messages:,} · {timings}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"


def _plugin_commands() -> None:
    """Plugins add their own commands (e.g. the Codex plugin's `codex-node`)."""
    with_application_hooks(plugin_manager()).hook.archive_cli_commands(app=app)


_data_dir_in_use: Path | None = None  # set by _config: where a disk-full error happened


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line a person can act on."""
    if isinstance(exc, apsw.FullError) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        where = getattr(exc, "filename", None) or _data_dir_in_use or "the data dir"
        return (
            f"no space left on device while writing {where}: free space or use another --data-dir"
        )
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        return f"{exc.filename}: {what}" if exc.filename else what
    if _usage_error(exc):
        return " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    return " ".join(str(exc).split())


def _usage_error(exc: BaseException) -> bool:
    """A command-line parsing error (typer's own copy of click raises them)."""
    return callable(getattr(exc, "format_message", None)) and isinstance(
        getattr(exc, "exit_code", None), int
    )


def _fail(message: str, code: int) -> SystemExit:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    return SystemExit(code)


def main() -> None:
    """Entry point: every failure is one line on stderr and a non-zero exit code (2: bad usage,
    1: everything else; ARCHIVE_SERVICE_TRACEBACK=1 prints the traceback of an unexpected
    one)."""
    try:
        _plugin_commands()
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except (ArchiveServiceError, OSError, apsw.FullError) as exc:
        raise _fail(one_line(exc), 1) from None
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # no command given: the help, exit 2
            exc.show()  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        if _usage_error(exc):
            raise _fail(one_line(exc), exc.exit_code) from None  # type: ignore[attr-defined]
        if os.environ.get("ARCHIVE_SERVICE_TRACEBACK"):
            traceback.print_exc()
        raise _fail(
            f"internal error ({type(exc).__name__}: {one_line(exc)}); please report it, "
            "with the traceback that ARCHIVE_SERVICE_TRACEBACK=1 prints",
            1,
        ) from None
    raise SystemExit(code if isinstance(code, int) else 0)
