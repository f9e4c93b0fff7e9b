"""`archive-service compare`: the A/B run of one history through each backend.

One history is generated (or taken from `--db`) once. For every backend and repetition the
parent starts an owner process and a member process (multiprocessing, spawn), so CPU and peak
RSS are measured per side. The owner copies the history store, creates and seeds with that
backend only and hands its loopback `shared` settings (e.g. the Codex node's SPR) and the
signed link message to the parent, which starts the member with them. The member joins the
community, downloads and imports with fast pacing, and reports its timings and a digest of its
message set; then the owner is told to stop. Events are forwarded to the parent for progress.

Runs of different backends are interleaved (t, c, t, c, ...) so slow drift of the machine
does not favour one backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
import platform
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from archive_service.asyncutil import wait_readable
from archive_service.crypto.hashratchet import GroupKey, HashRatchet
from archive_service.errors import ArchiveServiceError, ConfigError, StoreError
from archive_service.events import (
    ArchiveBuilt,
    ArchiveEvent,
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    HistoryArchiveImported,
    HistoryArchiveImportFailed,
    HistoryArchivesCreated,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.fsutil import atomic_write
from archive_service.host import InProcessBus
from archive_service.ids import community_hex
from archive_service.interface import ArchiveBackend, PublishResult
from archive_service.store import Community, Store
from archive_service_cli.childproc import Channel, Failed, redirect_output, run_child
from archive_service_cli.lab import (
    EventLog,
    EventRecorder,
    NodeRecipe,
    assemble_node,
    backend_names,
    loopback_providers,
)
from archive_service_cli.report import summarize
from archive_service_cli.resources import ResourceMeter, ResourceUsage
from archive_service_cli.scenario import DEFAULT_CODEX_PROFILE, HistoryShape
from archive_service_cli.synthetic import generate_history

log = logging.getLogger(__name__)

DEFAULT_BACKENDS = ("torrent", "logos-storage")
REPORT_VERSION = 1
E = TypeVar("E", bound=ArchiveEvent)
T = TypeVar("T")
_POLL = 0.05  # seconds between checks of a child's pipe and liveness


class CompareError(ArchiveServiceError):
    """An A/B run could not be completed (a side failed, timed out or refused the link)."""


class MessageSetMismatchError(CompareError):
    """A member did not end with exactly the owner's messages."""


@dataclass(frozen=True)
class CompareSettings:
    history: HistoryShape = field(default_factory=HistoryShape)  # when there is no --db
    encrypted: bool = False
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    repeat: int = 1
    db: Path | None = None
    out: Path = Path("compare-report")
    timeout: float = 600.0  # seconds per side of one run
    codex_profile: str = DEFAULT_CODEX_PROFILE  # the local Codex node's performance profile
    scenario_options: dict[str, Any] = field(default_factory=dict)  # see scenario.py
    # The history options the user gave (messages, days, topics, seed): they override a
    # scenario preset's history too, where `history` holds the defaults for the others.
    history_options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_scenario(self) -> bool:
        return any(v is not None for v in self.scenario_options.values())

    def __post_init__(self) -> None:
        object.__setattr__(self, "backends", backend_names(self.backends))  # `codex` too

    def check(self) -> None:
        if self.repeat < 1:
            raise ConfigError(f"--repeat must be >= 1 (got {self.repeat})")
        if not self.backends:
            raise ConfigError("--backends is empty; name at least one, e.g. --backends torrent")
        if len(set(self.backends)) != len(self.backends):
            raise ConfigError(f"--backends names a backend twice: {','.join(self.backends)}")
        if self.timeout <= 0:
            raise ConfigError(f"--timeout must be > 0 seconds (got {self.timeout})")
        work = (self.out / "work").resolve()
        if self.db is not None and self.db.resolve().is_relative_to(work):
            # Every run empties out/work first (fresh_run_dirs): the store would be deleted.
            raise ConfigError(
                f"--db {self.db} is inside {self.out / 'work'}, which every run empties; "
                "move it or pick another --out"
            )


@dataclass(frozen=True)
class History:
    """The prepared history every run copies."""

    db: Path
    community: Community
    group_keys: tuple[GroupKey, ...]
    messages: int
    start_ts: int
    end_ts: int  # exclusive: one past the newest message


# messages between the parent and the side processes ----------------------------------------
@dataclass(frozen=True, kw_only=True)
class _SideSpec:
    backend: str
    workdir: Path
    log_path: Path
    codex_profile: str = DEFAULT_CODEX_PROFILE


@dataclass(frozen=True, kw_only=True)
class _OwnerSpec(_SideSpec):
    history: History


@dataclass(frozen=True, kw_only=True)
class _MemberSpec(_SideSpec):
    community: Community
    group_keys: tuple[GroupKey, ...]
    shared: dict[str, Any]
    link_message: bytes
    timeout: float


@dataclass(frozen=True)
class _Event:
    event: ArchiveEvent


@dataclass(frozen=True)
class _Stop:
    pass


@dataclass(frozen=True)
class OwnerReady:
    shared: dict[str, Any]
    link_message: bytes
    archives: int
    archive_bytes: int  # encoded (and encrypted) archive bytes, before any backend padding
    stored_bytes: int
    padding_bytes: int
    padding_base: int  # what padding_bytes is relative to (see `owner_storage`)
    create_s: float
    seed_s: float
    messages: int
    digest: str


@dataclass(frozen=True)
class OwnerDone:
    usage: ResourceUsage


@dataclass(frozen=True)
class MemberResult:
    archives_downloaded: int
    archives_imported: int
    bytes_transferred: int
    stored_bytes: int
    index_s: float | None
    download_s: float | None
    first_import_s: float | None
    full_import_s: float
    messages: int
    digest: str
    usage: ResourceUsage


# side processes ----------------------------------------------------------------------------
def _side_recorder(channel: Channel, role: str) -> tuple[EventLog, EventRecorder]:
    """Records every event of the side's node and forwards it to the parent for progress."""
    events = EventLog()
    events.listeners.append(lambda record: channel.send(_Event(record.event)))
    return events, EventRecorder(events, role)


def message_digest(hashes: set[bytes]) -> str:
    """SHA-256 over the sorted message hashes: equal digests mean equal message sets."""
    h = hashlib.sha256()
    for message_hash in sorted(hashes):
        h.update(message_hash)
    return h.hexdigest()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a (possibly WAL-mode) SQLite file through the backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def tree_bytes(root: Path, names: Sequence[str] = ()) -> int:
    """Bytes of regular files under `root` (only those named `names`, when given)."""
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and (not names or path.name in names):
            total += path.stat().st_size
    return total


async def owner_storage(
    backend: ArchiveBackend, community_id: bytes, result: PublishResult | None, data_dir: Path
) -> tuple[int, int, int]:
    """(bytes stored, padding bytes, padding base) for what this backend keeps.

    torrent: the `data` and `index` files and the `.torrent`; padding is the zero fill after
    each archive (index `padding`), relative to the archive bytes.
    codex: what the node reports as used (`/space`: blocks padded to 64 KiB, plus manifests);
    padding is that minus the dataset bytes (archives + index), relative to the dataset.
    Other backends: what their publication reports, without padding.
    """
    reported = result.bytes_stored if result is not None else 0
    if backend.name == "torrent":
        entries = await backend.read_index(community_id)
        padding = sum(int(e.locator.get("padding", 0)) for e in entries)
        archive_bytes = sum(e.size for e in entries) - padding
        stored = tree_bytes(data_dir, ("data", "index", community_hex(community_id) + ".torrent"))
        return stored, padding, archive_bytes
    client = getattr(backend, "client", None)
    if backend.name == "logos-storage" and client is not None:
        # Duck-typed on purpose: the core never imports a backend.
        space = await client.space()
        used = int(space.quota_used_bytes)
        return used, max(used - reported, 0), reported
    return reported, 0, reported


async def member_storage(backend: ArchiveBackend, data_dir: Path) -> int:
    if backend.name == "torrent":
        return tree_bytes(data_dir, ("data", "index"))
    client = getattr(backend, "client", None)
    if backend.name == "logos-storage" and client is not None:
        return int((await client.space()).quota_used_bytes)
    return tree_bytes(data_dir / backend.name)


def _side_main(conn: Connection, spec: _OwnerSpec | _MemberSpec) -> None:
    """Entry point of a side process (must be importable for the spawn start method)."""
    redirect_output(spec.log_path)

    async def main(channel: Channel) -> None:
        if isinstance(spec, _OwnerSpec):
            await _owner(channel, spec)
        else:
            await _member(channel, spec)

    run_child(conn, main, "side")


async def _owner(channel: Channel, spec: _OwnerSpec) -> None:
    history = spec.history
    events, recorder = _side_recorder(channel, "owner")
    links = InProcessBus(auto_deliver=False)  # the parent carries the link to the member
    async with contextlib.AsyncExitStack() as stack:
        shared: dict[str, Any] = {"codex.profile": spec.codex_profile}
        node = await assemble_node(
            NodeRecipe(backends=(spec.backend,)),
            name="owner",
            role="owner",
            workdir=spec.workdir / "owner",
            stack=stack,
            shared=shared,
            plugins=[recorder, links],
            before_open=lambda config: copy_database(history.db, config.database),
        )
        community = node.store.get_community(history.community.id)
        if community is None:
            raise CompareError(f"the owner's copy of {history.db} lacks the community")
        hashes = node.store.message_hashes(node.manager.community_topics(community))
        start = node.manager.partition_start(community)

        meter = ResourceMeter().start()
        began = time.perf_counter()
        results = await node.manager.create_and_seed_history_archive(
            community, start, history.end_ts
        )
        finished = time.perf_counter()
        created = events.times("owner", HistoryArchivesCreated)
        created_at = created[0] if created else finished
        result = results.get(spec.backend)
        if result is None or not result.link or not links.sent:
            raise CompareError(
                f"the {spec.backend} owner published no link for [{start}, {history.end_ts}); "
                "is the history empty? (try more --messages)"
            )
        backend = node.backends[spec.backend]
        stored, padding, base = await owner_storage(
            backend, community.id, result, node.config.data_dir
        )
        channel.send(
            OwnerReady(
                shared=shared,
                link_message=links.sent[-1].message,
                archives=len(result.archive_ids),
                archive_bytes=sum(e.size for e in events.events_of("owner", ArchiveBuilt)),
                stored_bytes=stored,
                padding_bytes=padding,
                padding_base=base,
                create_s=created_at - began,
                seed_s=finished - created_at,
                messages=len(hashes),
                digest=message_digest(hashes),
            )
        )
        # Keep seeding until the parent says the member is done.
        await wait_readable(channel.conn)
        channel.conn.recv()
        channel.send(OwnerDone(meter.stop()))


async def _member(channel: Channel, spec: _MemberSpec) -> None:
    events, recorder = _side_recorder(channel, "member")
    async with contextlib.AsyncExitStack() as stack:
        node = await assemble_node(
            NodeRecipe(backends=(spec.backend,)),
            name="member",
            role="member",
            workdir=spec.workdir / "member",
            stack=stack,
            shared={**spec.shared, "codex.profile": spec.codex_profile},
            plugins=[recorder],
        )
        community = replace(spec.community, joined=True, private_key=None, archives_enabled=True)
        node.store.save_community(community)
        for key in spec.group_keys:
            node.crypto.add_group_key(key)

        meter = ResourceMeter().start()
        began = time.perf_counter()
        decision = await node.manager.handle_archive_link_message(spec.link_message)
        if not decision.accepted:
            raise CompareError(f"the member refused the owner's link: {decision.reason}")
        try:
            async with asyncio.timeout(spec.timeout):
                await node.manager.wait_idle(community.id)
        except TimeoutError:
            raise CompareError(
                f"the {spec.backend} member did not finish within {spec.timeout:g} s "
                "(raise --timeout for large histories)"
            ) from None
        finished = time.perf_counter()
        usage = meter.stop()
        _raise_on_failures(spec.backend, events)
        pending = node.manager.pending_imports(community.id)
        if pending:
            raise CompareError(f"the {spec.backend} member left {pending} archive(s) unimported")

        def since(kind: type[ArchiveEvent], pick: int) -> float | None:
            at = events.times("member", kind)
            return at[pick] - began if at else None

        hashes = node.store.message_hashes(node.manager.community_topics(community))
        downloaded = events.events_of("member", HistoryArchiveDownloaded)
        # The backend's own count of the run (torrent: with padding), else the archive sizes.
        completed = events.events_of("member", HistoryArchivesDownloadCompleted)
        runs = [e for e in completed if not e.cancelled]
        transferred = (
            sum(e.bytes_downloaded for e in runs) if runs else sum(e.size for e in downloaded)
        )
        channel.send(
            MemberResult(
                archives_downloaded=len(downloaded),
                archives_imported=len(events.events_of("member", HistoryArchiveImported)),
                bytes_transferred=transferred,
                stored_bytes=await member_storage(
                    node.backends[spec.backend], node.config.data_dir
                ),
                index_s=since(IndexDownloadCompleted, 0),
                download_s=since(HistoryArchiveDownloaded, -1),
                first_import_s=since(HistoryArchiveImported, 0),
                full_import_s=finished - began,
                messages=len(hashes),
                digest=message_digest(hashes),
                usage=usage,
            )
        )


def _raise_on_failures(backend: str, events: EventLog) -> None:
    def of(kind: type[E]) -> list[E]:
        return events.events_of("member", kind)

    reasons = [f"download: {e.reason}" for e in of(HistoryArchivesDownloadFailed)]
    reasons += [f"archive {e.archive_id}: {e.reason}" for e in of(HistoryArchiveDownloadFailed)]
    reasons += [
        f"import of {e.archive_id}: {e.reason}" for e in of(HistoryArchiveImportFailed) if e.gave_up
    ]
    if reasons:
        raise CompareError(f"the {backend} member failed: " + "; ".join(reasons[:3]))


# parent ------------------------------------------------------------------------------------
EventSink = Callable[[str, ArchiveEvent], None]


class _Side:
    """One side process and its end of the pipe."""

    def __init__(self, role: str, label: str, spec: _OwnerSpec | _MemberSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.role, self.backend, self.log_path = role, spec.backend, spec.log_path
        self.label = label  # names the side in progress bars: "torrent #1 owner"
        self.conn, child = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(
            target=_side_main, args=(child, spec), name=f"{spec.backend}-{role}", daemon=True
        )
        self.proc.start()
        child.close()

    def receive(self, expect: type[T], timeout: float, on_event: EventSink) -> T:
        """The next result message, of type `expect`; events on the way go to `on_event`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.conn.poll(_POLL):
                try:
                    message = self.conn.recv()
                except EOFError:
                    message = None
                if isinstance(message, _Event):
                    on_event(self.label, message.event)
                    continue
                if isinstance(message, Failed):
                    raise CompareError(
                        f"{self.backend} {self.role} failed: {message.error} (log: {self.log_path})"
                    )
                if isinstance(message, expect):
                    return message
                if message is not None:
                    raise CompareError(
                        f"{self.backend} {self.role} sent {type(message).__name__}, expected "
                        f"{expect.__name__} (log: {self.log_path})"
                    )
            if not self.proc.is_alive() and not self.conn.poll():
                raise CompareError(
                    f"{self.backend} {self.role} process exited with code {self.proc.exitcode} "
                    f"before reporting (log: {self.log_path})"
                )
            if time.monotonic() > deadline:
                raise CompareError(
                    f"{self.backend} {self.role} did not report within {timeout:g} s "
                    f"(raise --timeout; log: {self.log_path})"
                )

    def close(self) -> None:
        if self.proc.is_alive():
            # After a failure elsewhere the owner still waits to be told to stop.
            with contextlib.suppress(OSError):
                self.conn.send(_Stop())
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=10)
        self.conn.close()


def prepare_history(settings: CompareSettings, workdir: Path, console_note: EventNote) -> History:
    """Generate the history (or copy `--db`), make it encrypted when asked, and describe it."""
    path = workdir / "history.sqlite"
    if settings.db is not None:
        if not settings.db.is_file():
            raise StoreError(
                f"database {settings.db} does not exist; run `archive-service generate` first "
                "or drop --db to generate a history"
            )
        console_note(f"copying history from {settings.db}")
        copy_database(settings.db, path)
    else:
        shape = settings.history
        console_note(
            f"generating {shape.messages:,} messages over {shape.days:g} days "
            f"in {shape.topics} topics (seed {shape.seed})"
        )
        with Store(path) as store:
            generate_history(
                store,
                messages=shape.messages,
                days=shape.days,
                topics=shape.topics,
                seed=shape.seed,
            )
    with Store(path) as store:
        owned = [c for c in store.list_communities() if c.is_control_node]
        if not owned:
            raise StoreError(
                f"{settings.db or path} holds no community this node controls "
                "(it needs the owner's private key); generate one with `archive-service generate`"
            )
        community = owned[0]
        crypto = HashRatchet(store)
        if settings.encrypted and not community.encrypted:
            community = replace(community, encrypted=True)
            store.save_community(community)
        if community.encrypted and not crypto.group_keys(community.id):
            crypto.generate_group_key(community.id)
        topics = _community_topics(community)
        count = store.count_waku_messages(topics)
        if count == 0:
            raise StoreError(
                f"the community in {settings.db} has no messages to archive"
                if settings.db
                else f"--messages {settings.history.messages} generated nothing to archive; "
                "pass more"
            )
        return History(
            db=path,
            community=community,
            group_keys=tuple(crypto.group_keys(community.id)),
            messages=count,
            start_ts=store.oldest_message_timestamp(topics),
            end_ts=store.latest_message_timestamp(topics) + 1,
        )


def _community_topics(community: Community) -> list[bytes]:
    # The manager's rule (every chat plus the universal channel), without starting a node.
    from archive_service.ids import topic_from_chat_id, universal_chat_id

    chats = (*community.chat_ids, universal_chat_id(community.id))
    return list(dict.fromkeys(topic_from_chat_id(c) for c in chats))


EventNote = Callable[[str], None]


def run_once(
    backend: str,
    repeat: int,
    history: History,
    workdir: Path,
    logs: Path,
    timeout: float,
    on_event: EventSink,
    codex_profile: str = DEFAULT_CODEX_PROFILE,
) -> dict[str, Any]:
    """One owner + one member over `backend`; returns the run record (see `report`)."""
    tag = f"{backend}-{repeat + 1}"
    run_dir = workdir / tag
    owner_spec = _OwnerSpec(
        backend=backend,
        workdir=run_dir,
        history=history,
        log_path=logs / f"{tag}-owner.log",
        codex_profile=codex_profile,
    )
    owner = _Side("owner", f"{backend} #{repeat + 1} owner", owner_spec)
    member: _Side | None = None
    try:
        ready = owner.receive(OwnerReady, timeout, on_event)
        member = _Side(
            "member",
            f"{backend} #{repeat + 1} member",
            _MemberSpec(
                backend=backend,
                workdir=run_dir,
                community=history.community,
                group_keys=history.group_keys,
                shared=ready.shared,
                link_message=ready.link_message,
                log_path=logs / f"{tag}-member.log",
                timeout=timeout,
                codex_profile=codex_profile,
            ),
        )
        result = member.receive(MemberResult, timeout + 30, on_event)
        owner.conn.send(_Stop())
        done = owner.receive(OwnerDone, 60, on_event)
    finally:
        for side in (member, owner):
            if side is not None:
                side.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    return run_record(backend, repeat, ready, done, result)


def run_record(
    backend: str, repeat: int, owner: OwnerReady, done: OwnerDone, member: MemberResult
) -> dict[str, Any]:
    def gap(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else max(b - a, 0.0)

    return {
        "backend": backend,
        "repeat": repeat + 1,
        "archives": owner.archives,
        "archives_downloaded": member.archives_downloaded,
        "archives_imported": member.archives_imported,
        "bytes": {
            "archives": owner.archive_bytes,
            "stored_owner": owner.stored_bytes,
            "transferred": member.bytes_transferred,
            "stored_member": member.stored_bytes,
            "padding": owner.padding_bytes,
        },
        "padding_overhead": owner.padding_bytes / owner.padding_base if owner.padding_base else 0.0,
        "times": {
            "create": owner.create_s,
            "seed": owner.seed_s,
            "index": member.index_s,
            "download": member.download_s,
            "first_import": member.first_import_s,
            "full_import": member.full_import_s,
        },
        # Durations of consecutive phases, for the stacked chart.
        "phases": {
            "create": owner.create_s,
            "seed": owner.seed_s,
            "index": member.index_s,
            "download": gap(member.index_s, member.download_s),
            "import": gap(member.download_s, member.full_import_s),
        },
        "owner": _usage(done.usage),
        "member": _usage(member.usage),
        "messages": {
            "owner": owner.messages,
            "member": member.messages,
            "owner_digest": owner.digest,
            "member_digest": member.digest,
        },
    }


def _usage(usage: ResourceUsage) -> dict[str, float | int]:
    return {
        "cpu": usage.cpu,
        "cpu_user": usage.cpu_user,
        "cpu_system": usage.cpu_system,
        "peak_rss": usage.peak_rss,
    }


def verify(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every member's message set must equal every owner's (all owners copy one history)."""
    owner_digests = {r["messages"]["owner_digest"] for r in runs}
    member_digests = {r["messages"]["member_digest"] for r in runs}
    mismatched = [
        f"{r['backend']} #{r['repeat']}: {r['messages']['member']} of "
        f"{r['messages']['owner']} messages"
        for r in runs
        if r["messages"]["member_digest"] != r["messages"]["owner_digest"]
    ]
    identical = len(owner_digests) == 1 and member_digests == owner_digests
    return {
        "identical": identical,
        "owner_messages": runs[0]["messages"]["owner"] if runs else 0,
        "digest": next(iter(owner_digests)) if len(owner_digests) == 1 else None,
        "member_digests": {
            b: sorted({r["messages"]["member_digest"] for r in runs if r["backend"] == b})
            for b in dict.fromkeys(r["backend"] for r in runs)
        },
        "mismatched": mismatched,
    }


def machine() -> dict[str, Any]:
    import psutil

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory": psutil.virtual_memory().total,
    }


@dataclass
class CompareOutcome:
    report: dict[str, Any]
    json_path: Path
    html_path: Path
    notes: list[str] = field(default_factory=list)


def preflight(settings: CompareSettings) -> None:
    """Reject bad settings before anything is generated or started."""
    settings.check()
    missing = [b for b in settings.backends if b not in loopback_providers()]
    if missing:
        raise ConfigError(
            f"no loopback provider for backend(s) {', '.join(missing)}; "
            "install the plugin (see `archive-service plugins`) or pick others with --backends"
        )


def run_compare(
    settings: CompareSettings,
    *,
    on_event: EventSink | None = None,
    note: EventNote | None = None,
) -> CompareOutcome:
    """The whole A/B run: history, runs, verification, JSON and HTML. Raises
    MessageSetMismatchError after writing the reports when members differ."""
    import json

    from archive_service_cli.report import render_html

    preflight(settings)
    say = note or (lambda _text: None)
    out = settings.out
    work, logs = fresh_run_dirs(out)
    history = prepare_history(settings, work, say)
    say(
        f"history: {history.messages:,} messages of community "
        f"{community_hex(history.community.id)[:14]}…"
        + (" (encrypted)" if history.community.encrypted else "")
    )
    runs: list[dict[str, Any]] = []
    for repeat in range(settings.repeat):
        for backend in settings.backends:
            say(f"run {backend} #{repeat + 1}/{settings.repeat}")
            runs.append(
                run_once(
                    backend,
                    repeat,
                    history,
                    work,
                    logs,
                    settings.timeout,
                    on_event or (lambda _node, _event: None),
                    settings.codex_profile,
                )
            )
    verification = verify(runs)
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "messages": settings.history.messages,
            "days": settings.history.days,
            "topics": settings.history.topics,
            "seed": settings.history.seed,
            "encrypted": history.community.encrypted,
            "backends": list(settings.backends),
            "repeat": settings.repeat,
            "db": str(settings.db) if settings.db else None,
            "codex_profile": settings.codex_profile,
        },
        "history": {
            "community_id": community_hex(history.community.id),
            "messages": history.messages,
            "start_ts": history.start_ts,
            "end_ts": history.end_ts,
        },
        "machine": machine(),
        "runs": runs,
        "summary": summarize(runs, settings.backends),
        "verification": verification,
    }
    json_path, html_path = out / "compare.json", out / "compare.html"
    _write_atomic(json_path, json.dumps(report, indent=2) + "\n")
    _write_atomic(html_path, render_html(report))
    shutil.rmtree(work, ignore_errors=True)
    outcome = CompareOutcome(report, json_path, html_path)
    if not verification["identical"]:
        raise MessageSetMismatchError(
            "members did not end with the owner's messages: "
            + ("; ".join(verification["mismatched"]) or "owners or members disagree")
            + f" (report: {json_path})"
        )
    return outcome


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


def fresh_run_dirs(out: Path) -> tuple[Path, Path]:
    """`out/work` emptied and `out/logs`, for a run that starts from nothing: a run interrupted
    in this `out` left its history and its nodes' data in `work`, and an owner or member that
    starts with them measures nothing (an owner finds its history archived already)."""
    work, logs = out / "work", out / "logs"
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write to --out {out}: {exc}") from None
    return work, logs


def reported_failure(exc: ArchiveServiceError | KeyboardInterrupt) -> int:
    """Print why a `compare` run stopped, in one line on stderr (stdout carries the results);
    its exit code (1: the run failed, 3: members' messages differ, 130: interrupted)."""
    errors = Console(stderr=True, soft_wrap=True, highlight=False)
    if isinstance(exc, KeyboardInterrupt):
        errors.print("[yellow]interrupted[/]")
        return 130
    if isinstance(exc, MessageSetMismatchError):
        errors.print(f"[bold red]verification failed:[/] {exc}")
        return 3
    errors.print(f"[bold red]error:[/] {exc}")
    return 1


def run_cli(settings: CompareSettings, console: Console) -> int:
    """The `compare` command: progress bars, the table, the report paths; one line and a
    non-zero exit code on failure (1: the run failed, 3: members' messages differ)."""
    from archive_service_cli.progress import EventProgress
    from archive_service_cli.report import TABLE_NOTE, table, verification_line

    try:
        preflight(settings)  # before the progress display, so errors stay one clean line
        with EventProgress(console) as progress:
            outcome = run_compare(
                settings, on_event=progress.on_event, note=progress.progress.console.print
            )
    except (ArchiveServiceError, KeyboardInterrupt) as exc:
        return reported_failure(exc)
    console.print(table(outcome.report))
    console.print(f"[dim]{TABLE_NOTE}[/]")
    console.print(f"[green]{verification_line(outcome.report)}[/]")
    console.print(f"report: {outcome.json_path}  {outcome.html_path}")
    return 0
