"""The member's paced import: status-go importHistoryArchives (§7.5) without its hot retry loop
(§11.13). Each archive is imported as soon as it is downloaded (the download calls `ensure`),
newest window first, after `import.initial_delay`.

Two ways, chosen per archive by who handles messages (see `whole_archive_import`):
- a host that implements `archive_messages_import` receives `import.chunk_size` batches at
  most `import.slow_rate` / `import.fast_rate` batches per second, and the archive is marked
  imported after its last batch (status-go's contract);
- with the embedded importer alone, the archive is one `archive_import_archive` call (one
  limiter slot per archive) that stores every message and the imported mark in one
  transaction, in a worker thread so downloads go on meanwhile.
A missing key postpones that archive, other errors back off and give up after
`import.max_attempts`, and other archives keep importing meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pluggy

from archive_service.backoff import Backoff
from archive_service.clock import Clock, wait_event
from archive_service.config import ImportSettings
from archive_service.errors import ConfigError, NoGroupKeyError
from archive_service.events import (
    DownloadingHistoryArchivesFinished,
    HistoryArchiveImported,
    HistoryArchiveImportFailed,
    ImportingHistoryArchiveMessages,
)
from archive_service.ids import community_hex
from archive_service.manager.context import ManagerContext, ManagerPart
from archive_service.wire import pb

log = logging.getLogger(__name__)

# "No key yet" waits an hour, then doubles up to 64 hours; a new key retries at once.
NO_KEY_DOUBLINGS = 6


def no_key_backoff(settings: ImportSettings) -> Backoff:
    return Backoff(settings.no_key_backoff, cap_doublings=NO_KEY_DOUBLINGS)


def whole_archive_import(pm: pluggy.PluginManager) -> bool:
    """True when no host handles messages itself: every `archive_messages_import`
    implementation belongs to a plugin that also imports whole archives (the embedded one)."""
    whole = {impl.plugin for impl in pm.hook.archive_import_archive.get_hookimpls()}
    return bool(whole) and all(
        impl.plugin in whole for impl in pm.hook.archive_messages_import.get_hookimpls()
    )


class RateLimiter:
    """At most `rate` acquisitions per second of `clock` time, the first one immediate
    (golang rate.Limiter with burst 1, as status-go's import limiter)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self.clock = clock
        self._next = -float("inf")

    async def acquire(self) -> None:
        now = self.clock.monotonic()
        if self._next > now:
            await self.clock.sleep(self._next - now)
        self._next = max(now, self._next) + 1.0 / self.rate


@dataclass
class KeyWaits:
    """What a loop waiting for a group key keeps: clock deadlines per item (an archive, a
    backend) and the event that wakes it. A new group key clears the deadlines and wakes it."""

    not_before: dict[str, float] = field(default_factory=dict)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def group_key_arrived(self) -> None:
        self.not_before.clear()
        self.wakeup.set()


@dataclass
class _ImportState(KeyWaits):
    task: asyncio.Task[None] | None = None
    gave_up: set[str] = field(default_factory=set)  # surfaced; not retried this run


class Importer(ManagerPart):
    """One import loop per community; `downloads_busy(community)` says whether downloads
    are still pending or running, so the last of the two to finish announces the end."""

    def __init__(self, context: ManagerContext, *, downloads_busy: Callable[[bytes], bool]) -> None:
        super().__init__(context)
        self.downloads_busy = downloads_busy
        cfg = self.config.import_
        self.limiter = RateLimiter(cfg.fast_rate if cfg.fast else cfg.slow_rate, self.clock)
        self._gate = asyncio.Event()
        self._gate_task: asyncio.Task[None] | None = None
        self._states: dict[bytes, _ImportState] = {}
        self._stopping = False

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the import gate after `import.initial_delay`."""
        self._stopping = False
        self._gate_task = asyncio.create_task(self._open_gate_later())

    def halt(self) -> list[asyncio.Task[None]]:
        """Stop starting work; return the tasks the caller cancels and awaits."""
        self._stopping = True
        tasks = [s.task for s in self._states.values() if s.task is not None]
        if self._gate_task is not None:
            tasks.append(self._gate_task)
        return tasks

    def clear(self) -> None:
        self._states.clear()

    async def _open_gate_later(self) -> None:
        await self.clock.sleep(self.config.import_.initial_delay)
        self._gate.set()

    def open_gate_now(self) -> None:
        self._gate.set()
        if self._gate_task is not None:
            self._gate_task.cancel()  # its timer has nothing left to open

    def set_speed(self, fast: bool) -> None:
        """status-go SpeedupArchivesImport / SlowdownArchivesImport."""
        cfg = self.config.import_
        self.limiter.rate = cfg.fast_rate if fast else cfg.slow_rate

    # per community --------------------------------------------------------------------------
    def ensure(self, community_id: bytes) -> None:
        """Run the import loop of this community unless it runs already."""
        state = self._states.setdefault(community_id, _ImportState())
        if state.task is None or state.task.done():
            state.task = asyncio.create_task(self._import_loop(community_id, state))

    def running(self, community_id: bytes) -> bool:
        state = self._states.get(community_id)
        return state is not None and state.task is not None

    def task(self, community_id: bytes) -> asyncio.Task[None] | None:
        state = self._states.get(community_id)
        return None if state is None else state.task

    def notify_group_key(self, community_id: bytes) -> None:
        state = self._states.get(community_id)
        if state is not None:
            state.group_key_arrived()

    async def _import_loop(self, community_id: bytes, state: _ImportState) -> None:
        cfg = self.config.import_
        cid = community_hex(community_id)
        attempts: dict[str, int] = {}
        not_before, gave_up = state.not_before, state.gave_up
        no_key = no_key_backoff(cfg)
        on_error = Backoff(cfg.error_backoff)
        try:
            await self._gate.wait()
            while not self._stopping:
                community = self.store.get_community(community_id)
                if community is None or not community.joined:
                    return
                rows = [
                    r
                    for r in self.store.archives_to_import(community_id)
                    if r.archive_id not in gave_up
                ]
                if not rows:
                    return
                now = self.clock.monotonic()
                ready = [r for r in rows if not_before.get(r.archive_id, -float("inf")) <= now]
                if not ready:
                    state.wakeup.clear()
                    await wait_event(
                        self.clock, state.wakeup, min(not_before[r.archive_id] for r in rows) - now
                    )
                    continue
                row = ready[0]
                try:
                    backend = self.backends.get(row.backend)
                    if backend is None:
                        raise ConfigError(
                            f"archive {row.archive_id} was downloaded with backend "
                            f"{row.backend!r}, which is not enabled"
                        )
                    messages = await backend.load_archive_messages(
                        community_id, row.link, row.archive_id
                    )
                    self.emit(
                        ImportingHistoryArchiveMessages(
                            community_id=cid,
                            backend=row.backend,
                            archive_id=row.archive_id,
                            message_count=len(messages),
                        )
                    )
                    if whole_archive_import(self.pm):
                        await self.limiter.acquire()
                        imported = await asyncio.to_thread(
                            self._import_whole, community_id, row.archive_id, messages
                        )
                    else:
                        imported = await self.hand_to_host(community_id, messages)
                        # Marked only after every batch was handled: a crash re-imports, never
                        # skips.
                        self.store.set_archive_imported(community_id, row.archive_id)
                except NoGroupKeyError as exc:
                    n = attempts[row.archive_id] = attempts.get(row.archive_id, 0) + 1
                    not_before[row.archive_id] = self.clock.monotonic() + no_key.delay(n)
                    self.emit(
                        HistoryArchiveImportFailed(
                            community_id=cid,
                            backend=row.backend,
                            archive_id=row.archive_id,
                            reason=str(exc),
                            attempts=n,
                            postponed=True,
                        )
                    )
                    continue
                except Exception as exc:  # the host's handler may raise anything
                    n = attempts[row.archive_id] = attempts.get(row.archive_id, 0) + 1
                    give_up = n >= cfg.max_attempts
                    if give_up:
                        gave_up.add(row.archive_id)
                    else:
                        not_before[row.archive_id] = self.clock.monotonic() + on_error.delay(n)
                    log.warning("import of %s failed (attempt %d): %s", row.archive_id, n, exc)
                    self.emit(
                        HistoryArchiveImportFailed(
                            community_id=cid,
                            backend=row.backend,
                            archive_id=row.archive_id,
                            reason=f"{type(exc).__name__}: {exc}",
                            attempts=n,
                            gave_up=give_up,
                        )
                    )
                    continue
                self.emit(
                    HistoryArchiveImported(
                        community_id=cid,
                        backend=row.backend,
                        archive_id=row.archive_id,
                        imported=imported,
                        remaining=len(rows) - 1,
                    )
                )
                await self.clock.sleep(cfg.tick)
        finally:
            state.task = None
            if not self._stopping and not self.downloads_busy(community_id):
                self.emit(DownloadingHistoryArchivesFinished(community_id=cid))

    def _import_whole(
        self, community_id: bytes, archive_id: str, messages: list[pb.WakuMessage]
    ) -> int:
        result = self.pm.hook.archive_import_archive(
            community_id=community_id, archive_id=archive_id, messages=messages
        )
        return int(result or 0)

    async def hand_to_host(self, community_id: bytes, messages: list[pb.WakuMessage]) -> int:
        """Hand `messages` to the host's `archive_messages_import` in paced batches."""
        size = self.config.import_.chunk_size
        imported = 0
        for i in range(0, len(messages), size):
            await self.limiter.acquire()
            result = self.pm.hook.archive_messages_import(
                community_id=community_id, messages=messages[i : i + size]
            )
            imported += int(result or 0)
        return imported
