"""A scenario's run over one backend: the owner and every member as separate processes.

The parent starts the owner (it copies the history, creates and seeds with one backend), then
the members, each in its own process (spawn) with its line shaped by the chosen engine (see
`shaping.py`). Members stay and keep serving what they hold (BitTorrent seeds, the Codex node
serves its blocks) until the run ends, unless the scenario has churn (a member leaves once it
finished). The owner leaves after publishing or after the first member completed when the
scenario says so; late joiners then start, told only of the members still present.

Peer discovery stands in for trackers/DHT: the parent tells every BitTorrent member the
addresses of the others as they join (they dial them); a Codex member bootstraps to the owner's
node, or, when it joins late, to the present members' nodes.

Children report events with `time.perf_counter()` (CLOCK_MONOTONIC: one clock for every
process on Linux), so the
parent builds per-member times and the timeline of how many members hold each archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import shutil
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rich.console import Console

from archive_service.asyncutil import wait_readable
from archive_service.crypto.hashratchet import GroupKey
from archive_service.errors import ArchiveServiceError
from archive_service.events import (
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    HistoryArchiveImported,
    HistoryArchiveImportFailed,
    HistoryArchivesDownloadFailed,
)
from archive_service.host import InProcessBus, PublishedLink
from archive_service.node import ArchiveNode
from archive_service.plugins import backend_factories, canonical_backend_name, plugin_manager
from archive_service.store import Community
from archive_service_cli.childproc import Channel, Failed, redirect_output, run_child
from archive_service_cli.compare import (
    CompareError,
    CompareSettings,
    History,
    copy_database,
    fresh_run_dirs,
    member_storage,
    message_digest,
    owner_storage,
    reported_failure,
)
from archive_service_cli.lab import EventLog, EventRecorder, NodeRecipe, assemble_node
from archive_service_cli.scenario import Scenario
from archive_service_cli.shaping import (
    EnginePlan,
    NamespaceNet,
    application_overrides,
    bind_overrides,
    enter_namespace,
    is_storage_backend,
)

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
_DIAL_RETRY_S = 0.1
_REDIAL_S = 1.0


# messages -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSpec:
    backend: str
    role: str  # "owner" | "member"
    name: str
    workdir: Path
    log_path: Path
    codex_profile: str
    uplink_bps: int | None = None
    downlink_bps: int | None = None
    engine: str = "application"
    netns: str | None = None
    address: str = LOOPBACK
    history: History | None = None  # owner
    community: Community | None = None  # member
    group_keys: tuple[GroupKey, ...] = ()
    link_message: bytes = b""
    shared: dict[str, Any] = field(default_factory=dict)
    dial: tuple[tuple[str, int], ...] = ()
    churn: bool = False
    timeout: float = 600.0


@dataclass(frozen=True)
class Ready:  # owner: published
    shared: dict[str, Any]
    link_message: bytes
    archives: int
    archive_bytes: int
    digest: str
    contact: Any  # torrent: (host, port); codex: SPR


@dataclass(frozen=True)
class Joined:  # member: node started, about to handle the link
    contact: Any
    at: float


@dataclass(frozen=True)
class Holds:  # member: downloaded one archive
    archive_id: str
    at: float


@dataclass(frozen=True)
class Finished:  # member: every archive imported, or gave up
    completed: bool
    reason: str
    first_import_s: float | None
    full_import_s: float | None
    digest: str


@dataclass(frozen=True)
class Final:  # any node, when it leaves
    uploaded: int
    downloaded: int
    stored: int


@dataclass(frozen=True)
class Dial:  # parent -> torrent member: more peers
    peers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Leave:  # parent -> node
    pass


# child side ---------------------------------------------------------------------------------
_Pipe = Channel  # a node's end of the pipe to the parent


def node_main(conn: Connection, spec: NodeSpec) -> None:
    """Entry point of a node process (importable for spawn)."""
    if spec.netns:
        enter_namespace(spec.netns)  # first, while the process has one thread
    redirect_output(spec.log_path)
    run_child(
        conn,
        lambda pipe: _owner(pipe, spec) if spec.role == "owner" else _member(pipe, spec),
        "node",
    )


async def _node(
    spec: NodeSpec, stack: contextlib.AsyncExitStack, events: EventLog, plugins: list[object],
    before_open: Callable[..., None] | None = None,
) -> tuple[ArchiveNode, dict[str, Any]]:  # fmt: skip
    settings, shared = application_overrides(spec.backend, spec.uplink_bps, spec.downlink_bps)
    if spec.engine != "application":
        settings, shared = {}, {}
    if is_storage_backend(spec.backend):
        # As with the archive timeout below: a member behind a shared, shaped owner may wait
        # longer than the production 30 s between two chunks or 60 s for a first answer; the
        # run measures how long it takes.
        settings["timeouts"] = {
            "idle": spec.timeout,
            "network": spec.timeout,
            "download": max(spec.timeout, 900.0),
        }
        # Its node keeps asking for a block the way a real node does (block-retries 3000,
        # about a second apart), for the whole run: behind an owner that 20 members share,
        # one request can outlast the simulator's test-friendly 3 rounds 0.2 s apart.
        shared.update(
            {"codex.block_retries": max(3, math.ceil(spec.timeout)), "codex.retry_interval": 1.0}
        )
    if spec.address != LOOPBACK:
        bind_settings, bind_shared = bind_overrides(spec.backend, spec.address)
        settings.update(bind_settings)
        shared.update(bind_shared)
    shared_all = {**spec.shared, **shared, "codex.profile": spec.codex_profile}
    # The production per-archive timeout (60 s) is for a member alone behind a fast owner; a
    # scenario measures how long completion takes, so an archive may take the whole run.
    recipe = NodeRecipe(
        backends=(spec.backend,),
        timeouts={"archive": spec.timeout, "download": max(spec.timeout, 3600.0)},
    )
    node = await assemble_node(
        recipe,
        name=spec.name,
        role=spec.role,
        workdir=spec.workdir,
        stack=stack,
        shared=shared_all,
        plugins=[EventRecorder(events, spec.name), *plugins],
        before_open=before_open,
        overrides={spec.backend: settings},
    )
    return node, shared_all


async def _contact(node: ArchiveNode, backend: str, address: str) -> Any:
    impl = node.backends[backend]
    if backend == "torrent":
        return (address, int(impl.listen_port))  # type: ignore[attr-defined]
    client = getattr(impl, "client", None)
    return await client.spr() if client is not None else None


async def _traffic(node: ArchiveNode, backend: str, community_id: bytes) -> tuple[int, int]:
    """(bytes uploaded, bytes downloaded) by this node, on the wire where the backend says."""
    impl = node.backends[backend]
    if backend == "torrent":
        status = impl.torrent_status(community_id)  # type: ignore[attr-defined]
        return (int(status.total_upload), int(status.total_download)) if status else (0, 0)
    client = getattr(impl, "client", None)
    if client is None:
        return 0, 0
    base = str(client.api_url).split("/api/")[0]

    def fetch() -> dict[str, Any]:
        with urllib.request.urlopen(base + "/_local/v1/stats", timeout=10) as response:
            return json.loads(response.read())

    stats = await asyncio.to_thread(fetch)
    return sum(stats["served"].values()), sum(stats["received"].values())


async def _owner(pipe: _Pipe, spec: NodeSpec) -> None:
    assert spec.history is not None
    history = spec.history
    events = EventLog()
    links = InProcessBus(auto_deliver=False)
    async with contextlib.AsyncExitStack() as stack:
        node, shared = await _node(
            spec, stack, events, [links],
            before_open=lambda config: copy_database(history.db, config.database),
        )  # fmt: skip
        community = node.store.get_community(history.community.id)
        if community is None:
            raise CompareError(f"the owner's copy of {history.db} lacks the community")
        hashes = node.store.message_hashes(node.manager.community_topics(community))
        start = node.manager.partition_start(community)
        results = await node.manager.create_and_seed_history_archive(
            community, start, history.end_ts
        )
        result = results.get(spec.backend)
        announced = await _announcement(node, spec.backend, community, links)
        archives, archive_bytes = await _held_archives(node, spec.backend, community, announced)
        pipe.send(
            Ready(
                shared={k: v for k, v in shared.items() if k == "codex.owner_spr"},
                link_message=announced.message,
                archives=archives,
                archive_bytes=archive_bytes,
                digest=message_digest(hashes),
                contact=await _contact(node, spec.backend, spec.address),
            )
        )
        while not isinstance(await _receive(pipe.conn), Leave):
            pass
        up, down = await _traffic(node, spec.backend, community.id)
        stored, _padding, _base = await owner_storage(
            node.backends[spec.backend], community.id, result, node.config.data_dir
        )
        pipe.send(Final(up, down, stored))


async def _announcement(
    node: ArchiveNode, backend_name: str, community: Community, links: InProcessBus
) -> PublishedLink:
    """The announcement of the link the backend holds now. It is this run's creation, or a
    history that the backend had already committed when the node started (its data dir held
    it): nothing new is created then, the start announced that link when it never was (#11),
    and it is announced again here when it was."""
    backend = node.backends[backend_name]
    link = backend.current_link(community.id)
    if not link:
        raise CompareError(
            f"the {backend_name} owner holds no link to publish; is the history empty? "
            "(try more --messages)"
        )

    def of_link() -> list[PublishedLink]:
        sent = [p for p in links.sent if p.backend == backend_name]
        return [p for p in sent if backend.same_content(p.link, link)]

    if not of_link():
        await node.manager.republish_links(community)
    return of_link()[-1]


async def _held_archives(
    node: ArchiveNode, backend_name: str, community: Community, announced: PublishedLink
) -> tuple[int, int]:
    """(archives, bytes as published) of the announced link: what the members will fetch,
    however much of it this run created."""
    backend = node.backends[backend_name]
    entries = await backend.read_index(community.id, announced.link)
    total = 0
    for entry in entries:
        data = await backend.read_archive_bytes(community.id, announced.link, entry.archive_id)
        total += len(data)
    return len(entries), total


async def _receive(conn: Connection) -> object:
    await wait_readable(conn)
    return conn.recv()


def _failure_reason(events: EventLog, name: str) -> str:
    reasons = [
        f"download: {e.reason}" for e in events.events_of(name, HistoryArchivesDownloadFailed)
    ]
    reasons += [
        f"archive {e.archive_id}: {e.reason}"
        for e in events.events_of(name, HistoryArchiveDownloadFailed)
    ]
    reasons += [
        f"import of {e.archive_id}: {e.reason}"
        for e in events.events_of(name, HistoryArchiveImportFailed)
        if e.gave_up
    ]
    return "; ".join(reasons[:3])


async def _member(pipe: _Pipe, spec: NodeSpec) -> None:
    assert spec.community is not None
    events = EventLog()
    events.listeners.append(
        lambda r: (
            pipe.send(Holds(str(r.event.archive_id), time.perf_counter()))
            if isinstance(r.event, HistoryArchiveDownloaded)
            else None
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        node, _shared = await _node(spec, stack, events, [])
        community = replace(spec.community, joined=True, private_key=None, archives_enabled=True)
        node.store.save_community(community)
        for key in spec.group_keys:
            node.crypto.add_group_key(key)
        pipe.send(Joined(await _contact(node, spec.backend, spec.address), time.perf_counter()))

        peers: list[tuple[str, int]] = list(spec.dial)
        dialer = asyncio.create_task(_dial_loop(node, spec.backend, community.id, peers))
        began = time.perf_counter()
        decision = await node.manager.handle_archive_link_message(spec.link_message)
        if not decision.accepted:
            raise CompareError(f"the member refused the owner's link: {decision.reason}")
        finish = asyncio.create_task(_finish(node, spec, community, events, began))
        leave = asyncio.create_task(_listen(pipe.conn, peers))
        done, _ = await asyncio.wait({finish, leave}, return_when=asyncio.FIRST_COMPLETED)
        if finish in done:
            pipe.send(finish.result())
            if not spec.churn:
                await leave  # keep serving what we hold until the run ends
        else:
            finish.cancel()
            pipe.send(Finished(False, "the run ended before it completed", None, None, ""))
        dialer.cancel()
        up, down = await _traffic(node, spec.backend, community.id)
        stored = await member_storage(node.backends[spec.backend], node.config.data_dir)
        pipe.send(Final(up, down, stored))


async def _listen(conn: Connection, peers: list[tuple[str, int]]) -> None:
    """Until the parent says Leave: new peers to dial go into `peers`."""
    while True:
        message = await _receive(conn)
        if isinstance(message, Leave):
            return
        if isinstance(message, Dial):
            peers.extend(message.peers)


async def _dial_loop(
    node: ArchiveNode, backend: str, community_id: bytes, peers: list[tuple[str, int]]
) -> None:
    """BitTorrent members dial the peers they are told of once their torrent exists, and dial
    them all again every _REDIAL_S, as a tracker's re-announce hands out the swarm: a peer
    dialled before its own torrent existed refused the connection, and libtorrent would only
    retry after a back-off that grows with each failure. Dialling a connected peer is a no-op."""
    if backend != "torrent":
        return
    impl = node.backends[backend]
    while True:
        try:
            for host, port in list(peers):
                impl.connect_peer(community_id, host, port)  # type: ignore[attr-defined]
        except ArchiveServiceError:
            await asyncio.sleep(_DIAL_RETRY_S)  # no torrent yet: the link is being handled
            continue
        await asyncio.sleep(_REDIAL_S)


async def _finish(
    node: ArchiveNode, spec: NodeSpec, community: Community, events: EventLog, began: float
) -> Finished:
    try:
        async with asyncio.timeout(spec.timeout):
            await node.manager.wait_idle(community.id)
    except TimeoutError:
        return Finished(
            False,
            f"not complete within {spec.timeout:g} s (no reachable source held the rest)",
            None,
            None,
            "",
        )
    imported = events.times(spec.name, HistoryArchiveImported)
    pending = node.manager.pending_imports(community.id)
    reason = _failure_reason(events, spec.name)
    if pending and not reason:
        reason = f"{pending} archive(s) left unimported"
    end = time.perf_counter()
    hashes = node.store.message_hashes(node.manager.community_topics(community))
    return Finished(
        completed=not pending and not reason,
        reason=reason,
        first_import_s=imported[0] - began if imported else None,
        full_import_s=end - began,
        digest=message_digest(hashes),
    )


# parent side --------------------------------------------------------------------------------
class NodeProcess:
    def __init__(self, spec: NodeSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.spec = spec
        self.conn, child = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(
            target=node_main, args=(child, spec), name=spec.name, daemon=True
        )
        self.started = time.perf_counter()  # spawned; `joined_at` once it handles the link
        self.joined_at: float | None = None
        self.proc.start()
        child.close()
        self.contact: Any = None
        self.finished: Finished | None = None
        self.final: Final | None = None
        self.left_at: float | None = None
        self.told_to_leave = False
        # When its process ended after it left on its own (churn), seen while the run went on.
        self.ended_at: float | None = None
        self.holds: list[Holds] = []
        self.closed = False

    def send(self, message: object) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                self.conn.send(message)

    def tell_to_leave(self) -> None:
        self.told_to_leave = True
        self.send(Leave())

    @property
    def leaving_on_its_own(self) -> bool:
        """It said it leaves (Final) without being told to, and its process still runs."""
        return self.final is not None and not self.told_to_leave and self.ended_at is None

    def close(self) -> None:
        self.proc.join(timeout=20)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=10)
        if not self.closed:
            self.conn.close()
            self.closed = True


@dataclass
class SwarmRun:
    backend: str
    scenario: Scenario
    plan: EnginePlan
    t0: float = 0.0
    owner: NodeProcess | None = None
    ready: Ready | None = None
    members: list[NodeProcess] = field(default_factory=list)
    late: set[str] = field(default_factory=set)
    not_applied: list[str] = field(default_factory=list)


def run_swarm(
    scenario: Scenario,
    backend: str,
    history: History,
    workdir: Path,
    logs: Path,
    plan: EnginePlan,
    timeout: float,
    note: Callable[[str], None] = lambda _t: None,
) -> dict[str, Any]:
    """One scenario over `backend`; returns its record (see `scenario_report`)."""
    run = SwarmRun(backend, scenario, plan)
    net = NamespaceNet(scenario.shaping) if plan.engine == "namespace" else None
    deadline = time.perf_counter() + timeout + 120
    with net or contextlib.nullcontext():

        def spec(name: str, role: str, **extra: Any) -> NodeSpec:
            uplink, downlink = scenario.shaping.for_role(role)
            netns, address = net.add_node(name, role) if net else (None, LOOPBACK)
            return NodeSpec(
                backend=backend, role=role, name=name, workdir=workdir / backend / name,
                log_path=logs / f"{scenario.name}-{backend}-{name}.log",
                codex_profile=scenario.codex_profile, uplink_bps=uplink, downlink_bps=downlink,
                engine=plan.engine, netns=netns, address=address, timeout=timeout, **extra,
            )  # fmt: skip

        def start_member(name: str, dial: tuple[tuple[str, int], ...], shared: dict) -> None:
            assert run.ready is not None
            member = NodeProcess(
                spec(
                    name, "member", community=history.community, group_keys=history.group_keys,
                    link_message=run.ready.link_message, shared=shared, dial=dial,
                    churn=scenario.churn,
                )
            )  # fmt: skip
            run.members.append(member)

        run.owner = NodeProcess(spec("owner", "owner", history=history))
        try:
            run.ready = _await(run.owner, Ready, deadline)
            run.owner.contact = run.ready.contact
            note(f"{backend}: owner published {run.ready.archives} archive(s), "
                 f"{run.ready.archive_bytes:,} bytes")  # fmt: skip
            if scenario.owner_leaves == "after-publish":
                _leave(run.owner)
            run.t0 = time.perf_counter()
            owner_dial = (run.ready.contact,) if backend == "torrent" else ()
            for i in range(scenario.members):
                start_member(f"member{i + 1}", owner_dial, dict(run.ready.shared))
            _loop(run, deadline, start_member, note)
        finally:
            everyone = [run.owner, *run.members]
            for node in everyone:
                if node.final is None and node.proc.is_alive():
                    node.tell_to_leave()
            for node in everyone:
                if node.final is None:
                    with contextlib.suppress(CompareError):
                        _collect(node, time.perf_counter() + 30, until=Final)
                node.close()
        return _record(run, history, net)


def _await(node: NodeProcess, kind: type, deadline: float) -> Any:
    return _collect(node, deadline, until=kind)


def _collect(node: NodeProcess, deadline: float, until: type) -> Any:
    while True:
        if not node.conn.poll(max(0.0, min(1.0, deadline - time.perf_counter()))):
            if time.perf_counter() > deadline:
                raise CompareError(
                    f"{node.spec.name} did not answer in time ({node.spec.log_path})"
                )
            if not node.proc.is_alive() and not node.conn.poll():
                raise CompareError(
                    f"{node.spec.name} exited with code {node.proc.exitcode} "
                    f"(log: {node.spec.log_path})"
                )
            continue
        try:
            message = node.conn.recv()
        except EOFError:
            raise CompareError(f"{node.spec.name} went away (log: {node.spec.log_path})") from None
        _absorb(node, message)
        if isinstance(message, until):
            return message


def _absorb(node: NodeProcess, message: object) -> None:
    if isinstance(message, Failed):
        raise CompareError(f"{node.spec.name} failed: {message.error} (log: {node.spec.log_path})")
    if isinstance(message, Joined):
        node.contact, node.joined_at = message.contact, message.at
    elif isinstance(message, Holds):
        node.holds.append(message)
    elif isinstance(message, Finished):
        node.finished = message
    elif isinstance(message, Final):
        node.final = message
        node.left_at = time.perf_counter()


def _leave(node: NodeProcess) -> None:
    node.tell_to_leave()
    _collect(node, time.perf_counter() + 60, until=Final)


def _loop(
    run: SwarmRun,
    deadline: float,
    start_member: Callable[..., None],
    note: Callable[[str], None],
) -> None:
    scenario = run.scenario
    assert run.owner is not None
    late_started = False
    while True:
        members = run.members
        # With churn, the run also waits for the members that left to end their processes.
        leaving = {m.proc.sentinel: m for m in members if m.leaving_on_its_own}
        if (
            all(m.finished is not None for m in members)
            and (late_started or not scenario.late_joiners)
            and not leaving
        ):
            return
        if time.perf_counter() > deadline:
            for m in members:
                if m.finished is None:
                    m.finished = Finished(False, "the run's deadline passed", None, None, "")
            return
        live = {m.conn: m for m in members if not m.closed and m.final is None}
        for conn in wait([*live, *leaving], timeout=0.5):
            if conn in leaving:
                leaving[conn].ended_at = time.perf_counter()
                continue
            member = live[conn]
            try:
                message = conn.recv()
            except EOFError:
                member.closed = True
                if member.finished is None:
                    member.finished = Finished(
                        False, f"its process exited ({member.proc.exitcode})", None, None, ""
                    )
                continue
            if isinstance(message, Failed):
                member.finished = Finished(False, message.error, None, None, "")
                member.closed = True
                continue
            _absorb(member, message)
            if isinstance(message, Joined) and run.backend == "torrent":
                for other in members:
                    if other is not member and other.final is None:
                        other.send(Dial((message.contact,)))
            if isinstance(message, Finished):
                outcome = "completed" if message.completed else f"gave up: {message.reason}"
                note(f"{run.backend}: {member.spec.name} {outcome}")
        completed = any(m.finished and m.finished.completed for m in members)
        owner_here = run.owner.final is None
        if owner_here and scenario.owner_leaves == "after-first-complete" and completed:
            note(f"{run.backend}: the owner leaves")
            _leave(run.owner)
            owner_here = False
        if scenario.late_joiners and not late_started and not owner_here:
            late_started = True
            present = [m for m in members if _present(m, scenario)]
            if run.backend == "torrent":
                dial, shared = tuple(m.contact for m in present), {}
            else:
                dial, shared = (), {"codex.bootstrap": [m.contact for m in present]}
            for i in range(scenario.late_joiners):
                name = f"late{i + 1}"
                run.late.add(name)
                start_member(name, dial, shared)
            note(f"{run.backend}: {scenario.late_joiners} late joiner(s) start")


def _present(member: NodeProcess, scenario: Scenario) -> bool:
    """Still there for a late joiner to fetch from: not gone, and not leaving because it
    finished in a scenario with churn."""
    leaving = scenario.churn and member.finished is not None
    return member.final is None and member.contact is not None and not leaving


def _reason(finished: Finished | None, digest: str) -> str:
    if finished is None:
        return "never reported"
    if not finished.completed:
        return finished.reason
    return "" if finished.digest == digest else "its messages differ from the owner's"


def _record(run: SwarmRun, history: History, net: NamespaceNet | None) -> dict[str, Any]:
    assert run.owner is not None and run.ready is not None
    uplink = run.scenario.shaping.owner_uplink
    archive_bytes = run.ready.archive_bytes
    # Times count from the first member handling the link (process start-up not included).
    joins = [m.joined_at for m in run.members if m.joined_at and m.spec.name not in run.late]
    run.t0 = min(joins, default=run.t0)
    members = []
    for m in run.members:
        f, final = m.finished, m.final
        members.append(
            {
                "name": m.spec.name,
                "late": m.spec.name in run.late,
                "joined_s": (m.joined_at or m.started) - run.t0,
                "startup_s": (m.joined_at or m.started) - m.started,
                "completed": bool(f and f.completed and f.digest == run.ready.digest),
                "reason": _reason(f, run.ready.digest),
                "first_import_s": f.first_import_s if f else None,
                "full_import_s": f.full_import_s if f else None,
                "uploaded": final.uploaded if final else None,
                "downloaded": final.downloaded if final else None,
                "stored": final.stored if final else None,
                # Left on its own once it finished (churn): when its process ended.
                "left_s": m.ended_at - run.t0 if m.ended_at else None,
                "address": m.spec.address,
            }
        )  # fmt: skip
    owner_final = run.owner.final
    holds = sorted((h.at - run.t0, h.archive_id, m.spec.name) for m in run.members for h in m.holds)
    nodes_up = [n.final.uploaded for n in (run.owner, *run.members) if n.final]
    return {
        "backend": run.backend,
        "engine": run.plan.engine,
        "engine_why": run.plan.why,
        "not_applied": list(run.plan.not_applied) + (net.not_applied if net else []),
        "archives": run.ready.archives,
        "archive_bytes": archive_bytes,
        "owner_uplink_bound_s": archive_bytes * 8 / uplink if uplink else None,
        "owner": {
            "uploaded": owner_final.uploaded if owner_final else None,
            "stored": owner_final.stored if owner_final else None,
            "left_s": (run.owner.left_at - run.t0)
            if run.owner.left_at and run.scenario.owner_leaves != "never"
            else None,
        },
        "members": members,
        "wire_bytes": sum(nodes_up),
        "holds": [{"t": t, "archive": a, "member": n} for t, a, n in holds],
    }


@dataclass
class ScenarioOutcome:
    report: dict[str, Any]
    json_path: Path
    html_path: Path


def run_scenario(
    scenario: Scenario,
    *,
    backends: Sequence[str],
    out: Path,
    timeout: float = 600.0,
    note: Callable[[str], None] = lambda _t: None,
) -> ScenarioOutcome:
    """Every backend through `scenario`; writes `scenario.json` and `scenario.html` in `out`."""
    from archive_service_cli.compare import CompareSettings, machine, prepare_history
    from archive_service_cli.scenario_report import build_report, write_report
    from archive_service_cli.shaping import plan_engine

    factories = backend_factories(plugin_manager())
    backends = [canonical_backend_name(factories, b) for b in backends]  # `codex` is an alias
    plan = plan_engine(scenario.shaping)
    note(f"shaping engine: {plan.engine} ({plan.why})")
    work, logs = fresh_run_dirs(out)
    history = prepare_history(CompareSettings(history=scenario.history), work, note)
    runs = [
        run_swarm(scenario, backend, history, work, logs, plan, timeout, note)
        for backend in backends
    ]
    report = build_report(scenario, history, runs, machine())
    json_path, html_path = write_report(report, out)
    shutil.rmtree(work, ignore_errors=True)
    return ScenarioOutcome(report, json_path, html_path)


def scenario_from_settings(settings: CompareSettings) -> Scenario:
    """The scenario `compare` options describe: a preset or file (`--scenario`), else the
    default one with compare's history, then every option given on the command line."""
    from archive_service_cli.scenario import load_scenario, with_overrides

    options = dict(settings.scenario_options)
    source = options.pop("scenario", None)
    if source is not None:
        base = load_scenario(source)
        base = replace(base, history=replace(base.history, **settings.history_options))
    else:
        base = Scenario(history=settings.history)
    return with_overrides(base, codex_profile=settings.codex_profile, **options)


def check_codex_profile(name: str, backends: Sequence[str]) -> None:
    """A bad `--codex-profile` fails before anything starts."""
    if any(is_storage_backend(b) for b in backends):
        from archive_service_codex_node.profile import load_profile

        load_profile(name)


def run_scenario_cli(settings: CompareSettings, console: Console) -> int:
    """`compare` with scenario options: progress lines, a table, the report paths."""
    from rich.table import Table

    from archive_service_cli.scenario_report import fmt_bytes, fmt_seconds

    try:
        settings.check()
        scenario = scenario_from_settings(settings)
        check_codex_profile(scenario.codex_profile, settings.backends)
        outcome = run_scenario(
            scenario,
            backends=settings.backends,
            out=settings.out,
            timeout=settings.timeout,
            note=lambda text: console.print(f"[dim]{text}[/]"),
        )
    except (ArchiveServiceError, KeyboardInterrupt) as exc:
        return reported_failure(exc)
    table = Table(title=f"scenario {scenario.name}")
    for column in ("backend", "complete", "full import median", "p90", "max", "all complete",
                   "uplink bound", "owner uploaded", "on the wire"):  # fmt: skip
        table.add_column(column, justify="right")
    for run in outcome.report["runs"]:
        s = run["summary"]
        table.add_row(
            run["backend"], f"{s['completed']}/{s['members']}",
            fmt_seconds(s["full_import_s"]["median"]), fmt_seconds(s["full_import_s"]["p90"]),
            fmt_seconds(s["full_import_s"]["max"]), fmt_seconds(s["all_complete_s"]),
            fmt_seconds(run["owner_uplink_bound_s"]), fmt_bytes(s["owner_uploaded"]),
            fmt_bytes(s["wire_bytes"]),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"[dim]Codex profile {scenario.codex_profile}; {outcome.report['model_caveat']}[/]"
    )
    console.print(f"report: {outcome.json_path}  {outcome.html_path}")
    return 0  # members that never completed are results, listed in the report
