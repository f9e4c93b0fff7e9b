"""One long-lived libtorrent session, integrated with asyncio (libtorrent.md §4).

* Settings go to the `lt.session(...)` constructor, so DHT/LSD/UPnP/NAT-PMP never start when
  they are off (the no-argument constructor turns them all on).
* Alerts wake the event loop through `set_alert_fd` on a non-blocking pipe (no polling task,
  no busy loop). Alert objects die at the next `pop_alerts()`, so each is copied into a small
  snapshot at once and routed to the `TorrentWatch` of its torrent.
* Alerts are only a wake-up: the truth is asked from libtorrent (`have_piece`, status), and
  every wait also re-checks once a second, because alerts can be dropped on overflow.
* Destroying a session blocks for 0.2–1 s, so it happens once, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libtorrent as lt

from archive_service.asyncutil import wait_cancellable
from archive_service.errors import BackendError, BackendUnavailableError
from archive_service_torrent.settings import TorrentSettings

log = logging.getLogger(__name__)

_cat = lt.alert.category_t
ALERT_MASK = (
    _cat.error_notification
    | _cat.status_notification
    | _cat.storage_notification
    | _cat.piece_progress_notification
    | _cat.peer_notification
    | _cat.connect_notification
)
RECHECK_INTERVAL = 1.0  # seconds between truth checks when no alert arrives
ALERT_QUEUE_SIZE = 100_000  # one piece_finished_alert per piece; keep bursts
SHUTDOWN_GRACE = 3.0  # longest wait for connections to close before destroying a session
_BUSY_COUNTERS = (
    "utp.num_utp_syn_sent",
    "utp.num_utp_connected",
    "utp.num_utp_fin_sent",
    "utp.num_utp_close_wait",
)


@dataclass(frozen=True)
class AlertSnapshot:
    kind: str
    message: str
    piece: int = -1
    error: str = ""


class TorrentRemovedError(BackendError):
    """The torrent was removed from the session (unseeded, stopped) while someone waited."""


@dataclass(eq=False)
class TorrentWatch:
    """A torrent in the session plus what its alerts said since it was added."""

    handle: Any  # lt.torrent_handle
    info_hash: bytes
    finished_pieces: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    removed: bool = False
    flushes: int = 0
    _last_refresh: float = 0.0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self, snapshot: AlertSnapshot | None = None) -> None:
        if snapshot is not None:
            if snapshot.kind == "piece_finished_alert":
                self.finished_pieces.add(snapshot.piece)
            elif snapshot.kind == "cache_flushed_alert":
                self.flushes += 1
            elif snapshot.error:
                self.errors.append(f"{snapshot.kind}: {snapshot.message}")
        self._changed.set()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        cancel: asyncio.Event | None,
        timeout: float | None,
        what: str,
    ) -> None:
        """Return once `predicate()` holds. OperationCancelled if `cancel` fires first,
        ArchiveTimeoutError after `timeout` s, TorrentRemovedError if the torrent goes away."""
        if not await wait_cancellable(self._until(predicate), cancel, timeout, what):
            raise TorrentRemovedError(
                f"torrent {self.info_hash.hex()} was removed from the session during {what}"
            )

    async def _until(self, predicate: Callable[[], bool]) -> bool:
        # Returns instead of raising when the torrent is removed: an exception here could be
        # left unretrieved when a cancel arrives at the same moment.
        while True:
            # Cleared before the check: an alert arriving after it sets the event again.
            self._changed.clear()
            if self.removed:
                return False
            if predicate():
                return True
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that coincides with the event firing, and this loop would
            # then outlive the caller that cancelled it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK_INTERVAL):
                    await self._changed.wait()

    async def flush(self, *, cancel: asyncio.Event | None, timeout: float | None) -> None:
        """Wait until every verified piece is written to its file. libtorrent marks a piece
        as had once its hash checks, while the write may still be queued in a disk thread;
        flush_cache is a fence behind those writes and answers with cache_flushed_alert."""
        before = self.flushes
        self.handle.flush_cache()
        await self.wait_until(
            lambda: self.flushes > before, cancel=cancel, timeout=timeout, what="disk flush"
        )

    # truth queries ---------------------------------------------------------------------------
    def status(self, pieces: bool = False) -> Any:
        flags = lt.status_flags_t.query_pieces if pieces else 0
        return self.handle.status(flags)

    def error(self) -> str:
        """libtorrent's error for this torrent (storage errors stop it), '' when none."""
        status = self.status()
        if not status.errc.value():
            return ""
        where = f" ({status.error_file})" if status.error_file >= 0 else ""
        return f"{status.errc.message()}{where}"

    def have_pieces(self, pieces: range) -> bool:
        """True when every piece in `pieces` is verified. The alert bookkeeping answers
        first; libtorrent's bitfield (one call, not one per piece) confirms "all done" and
        resyncs the bookkeeping at most once per RECHECK_INTERVAL, in case alerts were lost."""
        if not all(p in self.finished_pieces for p in pieces):
            now = time.monotonic()
            if now - self._last_refresh < RECHECK_INTERVAL:
                return False
            self.refresh_pieces()
            self._last_refresh = now
        have = self.status(pieces=True).pieces
        missing = [p for p in pieces if not have[p]]
        self.finished_pieces.difference_update(missing)
        return not missing

    def refresh_pieces(self) -> None:
        """Resync the bookkeeping from libtorrent (after a recheck or dropped alerts)."""
        have = self.status(pieces=True).pieces
        self.finished_pieces = {i for i, h in enumerate(have) if h}


def session_settings(s: TorrentSettings, port: int, *, fallback: bool) -> dict[str, Any]:
    host = s.listen_interface
    interface = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "listen_interfaces": interface,
        # Pinned port without fallback: fail instead of binding a neighbour or a random port.
        "max_retry_port_bind": 10 if fallback else 0,
        "listen_system_port_fallback": fallback,
        "enable_dht": s.enable_dht,
        **({} if s.enable_dht else {"dht_bootstrap_nodes": ""}),
        "enable_lsd": s.enable_lsd,
        "enable_upnp": s.enable_upnp,
        "enable_natpmp": s.enable_natpmp,
        "enable_incoming_utp": s.incoming_utp,
        "enable_outgoing_utp": s.outgoing_utp,
        # Every loopback peer is 127.0.0.1; several nodes per host must be able to connect.
        "allow_multiple_connections_per_ip": True,
        # Otherwise a member that has "finished" (index only) drops the owner and does not
        # redial for 60 s when archive pieces are wanted later (libtorrent.md §4).
        "close_redundant_connections": False,
        "min_reconnect_time": 1,
        "send_socket_buffer_size": s.send_socket_buffer_size,
        "recv_socket_buffer_size": s.recv_socket_buffer_size,
        "upload_rate_limit": s.upload_rate_limit,
        "download_rate_limit": s.download_rate_limit,
        "alert_mask": int(ALERT_MASK),
        "alert_queue_size": ALERT_QUEUE_SIZE,
    }


def _loopback_filter() -> Any:
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1)
    f.add_rule("127.0.0.0", "127.255.255.255", 0)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
    f.add_rule("::1", "::1", 0)
    return f


def port_is_free(host: str, port: int) -> bool:
    """Both TCP and UDP can bind `host:port` (libtorrent needs both for TCP and uTP)."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


class TorrentSession:
    def __init__(self, ses: Any, settings: TorrentSettings, read_fd: int, write_fd: int) -> None:
        self._ses = ses
        self.settings = settings
        self._read_fd, self._write_fd = read_fd, write_fd
        self._watches: dict[Any, TorrentWatch] = {}
        self._stats_waiters: list[asyncio.Future[dict[str, int]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @classmethod
    async def open(cls, settings: TorrentSettings) -> TorrentSession:
        port = settings.listen_port
        fallback = settings.port_fallback
        if port and not port_is_free(settings.listen_interface, port):
            if not fallback:
                raise BackendUnavailableError(
                    f"BitTorrent listen port {settings.listen_interface}:{port} is in use "
                    "(another archive-service or BitTorrent client?); set "
                    "backend.torrent.listen_port to a free port, to 0 for any free port, or "
                    "set backend.torrent.port_fallback = true"
                )
            log.warning("BitTorrent port %d is busy; listening on a free port instead", port)
            port = 0
        params = session_settings(settings, port, fallback=fallback)
        ses = await asyncio.to_thread(lt.session, params)
        if settings.loopback_only:
            ses.set_ip_filter(_loopback_filter())
        if settings.limit_local_peers:
            # By default LAN/loopback peers are in an unlimited class; put everyone in the
            # global class so the configured rate limits apply to them as well.
            everyone = lt.ip_filter()
            global_class = 1 << lt.session.global_peer_class_id
            everyone.add_rule("0.0.0.0", "255.255.255.255", global_class)
            everyone.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", global_class)
            ses.set_peer_class_filter(everyone)
        if not ses.is_listening() or ses.listen_port() == 0:
            alerts = "; ".join(a.message() for a in ses.pop_alerts() if "listen" in a.what())
            holder = [ses]
            del ses
            await asyncio.to_thread(holder.clear)
            raise BackendUnavailableError(
                f"BitTorrent cannot listen on {settings.listen_interface}:{port} ({alerts}); "
                "choose another backend.torrent.listen_port or listen_interface"
            )
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self = cls(ses, settings, read_fd, write_fd)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(read_fd, self._drain)
        ses.set_alert_fd(write_fd)
        self._drain()  # alerts posted before the fd was set produced no wake-up
        return self

    # ----------------------------------------------------------------------------------------
    @property
    def listen_port(self) -> int:
        return int(self._ses.listen_port())

    def add(self, atp: Any, info_hash: bytes) -> TorrentWatch:
        handle = self._ses.add_torrent(atp)
        watch = TorrentWatch(handle=handle, info_hash=info_hash)
        self._watches[handle] = watch
        return watch

    def remove(self, watch: TorrentWatch) -> None:
        """Drop the torrent from the session; its files stay on disk."""
        if watch.removed:
            return
        self._watches.pop(watch.handle, None)
        with contextlib.suppress(RuntimeError):
            self._ses.remove_torrent(watch.handle)
        watch.removed = True
        watch.notify()

    def connect_peer(self, watch: TorrentWatch, host: str, port: int) -> None:
        watch.handle.connect_peer((host, port))

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read_fd, 4096):
                pass
        if not hasattr(self, "_ses"):
            return
        for alert in self._ses.pop_alerts():
            kind = type(alert).__name__
            if kind == "session_stats_alert":
                values = dict(alert.values)
                for waiter in self._stats_waiters:
                    if not waiter.done():
                        waiter.set_result(values)
                self._stats_waiters.clear()
                continue
            handle = getattr(alert, "handle", None)
            watch = self._watches.get(handle) if handle is not None else None
            error = ""
            err = getattr(alert, "error", None)
            if err is not None and hasattr(err, "value") and err.value():
                error = err.message()
            if kind == "alerts_dropped_alert":
                log.warning("libtorrent dropped alerts; resyncing every torrent")
                for w in self._watches.values():
                    w.refresh_pieces()
                    w.notify()
                continue
            snapshot = AlertSnapshot(
                kind=kind,
                message=alert.message(),
                piece=int(getattr(alert, "piece_index", -1)),
                error=error,
            )
            if error or alert.category() & _cat.error_notification:
                log.debug("libtorrent %s: %s", kind, snapshot.message)
            if watch is not None:
                watch.notify(snapshot)

    async def session_stats(self, timeout: float = 1.0) -> dict[str, int] | None:
        """libtorrent's session counters (post_session_stats), or None if none came."""
        waiter = asyncio.get_running_loop().create_future()
        self._stats_waiters.append(waiter)
        self._ses.post_session_stats()
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            return None
        finally:
            if waiter in self._stats_waiters:
                self._stats_waiters.remove(waiter)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for watch in list(self._watches.values()):
            watch.removed = True
            watch.notify()
        self._watches.clear()
        # The destructor holds the GIL while libtorrent finishes closing connections (about
        # 1–2 s when a peer vanished mid-transfer), which would freeze the event loop. So:
        # pause, wait here without blocking until no connection is left (bounded), and only
        # then destroy the session, which is immediate by that time.
        self._ses.apply_settings({"utp_fin_resends": 0, "utp_syn_resends": 0, "utp_num_resends": 0})
        self._ses.pause()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE
        while loop.time() < deadline:
            stats = await self.session_stats(timeout=deadline - loop.time())
            if stats is None or not any(stats.get(key, 0) for key in _BUSY_COUNTERS):
                break
            await asyncio.sleep(0.05)
        if self._loop is not None:
            self._loop.remove_reader(self._read_fd)
        holder = [self._ses]
        del self._ses
        await asyncio.to_thread(holder.clear)
        # Closed only now: libtorrent may write to the pipe until its threads are gone.
        os.close(self._read_fd)
        os.close(self._write_fd)
