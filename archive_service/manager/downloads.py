"""The member's downloads: one worker per community runs the accepted links in
`member.preference` order, a newer or preferred link superseding the running download. Each
archive goes to the importer as soon as the backend has verified and recorded it. The
index timeout is retried `timeouts.index_retries` times; a link whose index needs a group key
the node lacks waits with back-off (or until `notify_group_key`); a backend's own bug ends
that run, never the worker."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from archive_service.clock import wait_event
from archive_service.errors import ArchiveServiceError, ArchiveTimeoutError, NoGroupKeyError
from archive_service.events import (
    DownloadingHistoryArchivesFinished,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
    HistoryArchivesSeeding,
)
from archive_service.ids import community_hex
from archive_service.interface import DownloadTaskInfo
from archive_service.manager.context import ManagerContext, ManagerPart
from archive_service.manager.imports import Importer, KeyWaits, no_key_backoff
from archive_service.manager.links import preference_order, supersedes

log = logging.getLogger(__name__)


@dataclass
class _Running:
    backend: str
    link: str
    cancel: asyncio.Event


@dataclass
class _DownloadState(KeyWaits):
    """`not_before`: the "no key yet" back-off per backend; a new link or key clears it."""

    pending: dict[str, str] = field(default_factory=dict)  # backend -> link to download
    resumed: dict[str, str] = field(default_factory=dict)  # backend -> link resumed at start
    running: _Running | None = None
    worker: asyncio.Task[None] | None = None
    no_key_attempts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Outcome:
    info: DownloadTaskInfo | None = None  # None: the run failed as a whole (emitted)
    no_key: bool = False  # the index needs a group key this node does not hold yet


class Downloads(ManagerPart):
    def __init__(self, context: ManagerContext, *, importer: Importer) -> None:
        super().__init__(context)
        self.importer = importer
        self._states: dict[bytes, _DownloadState] = {}
        self._stopping = False

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False

    def halt(self) -> list[asyncio.Task[None]]:
        """Cancel running downloads; return the workers the caller cancels and awaits."""
        self._stopping = True
        tasks: list[asyncio.Task[None]] = []
        for state in self._states.values():
            if state.running is not None:
                state.running.cancel.set()
            if state.worker is not None:
                tasks.append(state.worker)
        return tasks

    def clear(self) -> None:
        self._states.clear()

    # queries --------------------------------------------------------------------------------
    def order(self) -> list[str]:
        return preference_order(self.config.member.preference, self.backends)

    def in_flight(self, community_id: bytes, backend: str, link: str) -> bool:
        """`link` already waits or downloads through `backend`."""
        state = self._states.get(community_id)
        return state is not None and (
            state.pending.get(backend) == link
            or (state.running is not None and state.running.link == link)
        )

    def resumed_in_flight(self, community_id: bytes, backend: str, link: str) -> bool:
        """`link` is in flight because this node resumed it at start, not for a message."""
        state = self._states.get(community_id)
        return (
            state is not None
            and state.resumed.get(backend) == link
            and self.in_flight(community_id, backend, link)
        )

    def adopt(self, community_id: bytes, backend: str) -> None:
        """A message asked for the resumed run: from now on it is that message's run."""
        state = self._states.get(community_id)
        if state is not None:
            state.resumed.pop(backend, None)

    def running(self, community_id: bytes) -> tuple[str, str] | None:
        state = self._states.get(community_id)
        if state is None or state.running is None:
            return None
        return state.running.backend, state.running.link

    def busy(self, community_id: bytes) -> bool:
        """Links are still waiting or downloading for this community."""
        state = self._states.get(community_id)
        return state is not None and (bool(state.pending) or state.running is not None)

    def worker(self, community_id: bytes) -> asyncio.Task[None] | None:
        state = self._states.get(community_id)
        return None if state is None else state.worker

    # commands -------------------------------------------------------------------------------
    def schedule(
        self, community_id: bytes, backend: str, link: str, *, resumed: bool = False
    ) -> None:
        """Download `link` through `backend` (`resumed`: a run this node resumes by itself)."""
        state = self._states.setdefault(community_id, _DownloadState())
        if resumed:
            state.resumed[backend] = link
        else:
            state.resumed.pop(backend, None)
        if state.pending.get(backend) != link:
            state.not_before.pop(backend, None)
            state.no_key_attempts.pop(backend, None)
        state.pending[backend] = link
        running = state.running
        if running is not None and supersedes(self.order(), backend, running.backend):
            # Superseded: the worker joins the cancelled run before starting the next one.
            running.cancel.set()
        state.wakeup.set()
        if state.worker is None or state.worker.done():
            state.worker = asyncio.create_task(self._worker(community_id, state))

    def notify_group_key(self, community_id: bytes) -> None:
        state = self._states.get(community_id)
        if state is not None:
            state.group_key_arrived()

    # work -----------------------------------------------------------------------------------
    async def _worker(self, community_id: bytes, state: _DownloadState) -> None:
        order = self.order()
        no_key = no_key_backoff(self.config.import_)
        while state.pending and not self._stopping:
            now = self.clock.monotonic()
            ready = [b for b in state.pending if state.not_before.get(b, -float("inf")) <= now]
            if not ready:
                state.wakeup.clear()
                wait = min(state.not_before[b] for b in state.pending) - now
                await wait_event(self.clock, state.wakeup, wait)
                continue
            backend = min(ready, key=order.index)
            link = state.pending[backend]
            state.running = _Running(backend, link, asyncio.Event())
            try:
                outcome = await self._download(community_id, backend, link, state.running.cancel)
            finally:
                state.running = None
            info = outcome.info
            if info is not None and info.cancelled:
                continue  # superseded or stopping; the pending map says what comes next
            if outcome.no_key and state.pending.get(backend) == link:
                # Keep the link; try again after a back-off, or as soon as a key arrives.
                n = state.no_key_attempts[backend] = state.no_key_attempts.get(backend, 0) + 1
                state.not_before[backend] = self.clock.monotonic() + no_key.delay(n)
                continue
            if state.pending.get(backend) == link:
                del state.pending[backend]
            if info is None:
                continue
            if not info.failed_archive_ids:
                await self._mark_last_seen(community_id, backend, link)
            if self.store.archives_to_import(community_id):
                self.importer.ensure(community_id)
        if not state.pending and not self.importer.running(community_id):
            self.emit(DownloadingHistoryArchivesFinished(community_id=community_hex(community_id)))

    async def _mark_last_seen(self, community_id: bytes, backend: str, link: str) -> None:
        old = self.store.get_archive_link(community_id, backend).link
        self.store.set_archive_link(community_id, backend, link)
        if old and old != link:
            await self.backends[backend].unseed(community_id, old)
        self.emit(
            HistoryArchivesSeeding(
                community_id=community_hex(community_id), backend=backend, link=link
            )
        )

    async def _download(
        self, community_id: bytes, backend_name: str, link: str, cancel: asyncio.Event
    ) -> _Outcome:
        """One download with the index timeout retried `timeouts.index_retries` times.
        Failures of the whole run are emitted with their reason."""
        backend = self.backends[backend_name]
        ready = self.importer.ensure  # each archive imports while later ones download
        attempts = 1 + self.config.timeouts.index_retries
        no_key = False
        for attempt in range(1, attempts + 1):
            try:
                info = await backend.download_history_archives(
                    community_id, link, cancel, archive_ready=lambda _: ready(community_id)
                )
            except ArchiveTimeoutError as exc:
                reason = f"timeout: {exc}"
                if attempt < attempts:
                    log.info("%s; retrying (%d/%d)", reason, attempt, attempts - 1)
                    continue
            except NoGroupKeyError as exc:
                reason, no_key = f"no key: {exc}", True
            except ArchiveServiceError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # A backend is a plugin: its bug must end this run, not the member's worker.
                log.exception("backend %s failed unexpectedly on %s", backend_name, link)
                reason = f"unexpected {type(exc).__name__} in backend {backend_name}: {exc}"
            else:
                self.emit(
                    HistoryArchivesDownloadCompleted(
                        community_id=community_hex(community_id),
                        backend=backend_name,
                        link=link,
                        total_archives=info.total_archives,
                        downloaded=info.total_downloaded,
                        skipped=len(info.skipped_archive_ids),
                        failed=len(info.failed_archive_ids),
                        cancelled=info.cancelled,
                        bytes_downloaded=info.bytes_downloaded,
                    )
                )
                return _Outcome(info)
            log.warning("download of %s via %s failed: %s", link, backend_name, reason)
            self.emit(
                HistoryArchivesDownloadFailed(
                    community_id=community_hex(community_id),
                    backend=backend_name,
                    link=link,
                    reason=reason,
                )
            )
            return _Outcome(no_key=no_key)
        return _Outcome()  # unreachable: the loop returns or records a failure
