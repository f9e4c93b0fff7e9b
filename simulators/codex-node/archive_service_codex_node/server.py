"""`LocalCodexNode`: the local Codex-compatible node, startable in-process (tests) or through
`python -m archive_service_codex_node` / `archive-service codex-node`."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from archive_service_codex.client import API_PREFIXES, ApiGeneration

from archive_service.asyncutil import StartStop
from archive_service.clock import Clock, SystemClock
from archive_service.errors import BackendUnavailableError
from archive_service_codex_node.api import add_api_routes, presto_errors
from archive_service_codex_node.blockstore import BlockStore
from archive_service_codex_node.downloads import BackgroundDownloads
from archive_service_codex_node.engine import Engine
from archive_service_codex_node.exchange import add_exchange_routes
from archive_service_codex_node.identity import NodeIdentity, tcp_multiaddr
from archive_service_codex_node.peers import PeerNetwork
from archive_service_codex_node.profile import DEFAULT_PROFILE, PerformanceProfile, load_profile
from archive_service_codex_node.ratelimit import NodeLimits

log = logging.getLogger(__name__)

DEFAULT_QUOTA = 20 * 2**30

T = TypeVar("T")


class LocalCodexNode(StartStop):
    """A Codex-compatible REST node on 127.0.0.1 with an on-disk block store.

    `api` is the REST generation it answers as: Codex v0.2.x (`codex-v1`, the default) or
    Logos Storage v0.5.x (`storage-v1`: its routes, bodies, JSON and manifest coder).
    `network_miss_wait` > 0 holds a network request for a CID nobody has that many seconds
    (on `clock`) and then answers 404 `Timeout exceeded!`, as a real node did after 600 s.
    `legacy_build` answers as the pre-v0.2.0 build measured in issue 13 (logos-storage-nim
    caed3c07): manifests carry the upload time (field 10, `uploadedAt` in the JSON), no
    `/exists` and no `DELETE /data/{cid}` route, empty-body 404 for an unknown CID and 500 for
    an empty upload, `The MIME type is not valid.`, downloads without Content-Length.

    `data_dir` holds `key` (the node identity), `repo/` (blocks, tree index) and a lock file;
    restarting on the same directory keeps the identity and the data. `profile` (a
    PerformanceProfile, or a bundled name or file path for `load_profile`) sets how fast it
    pretends to be; the default, `unthrottled`, adds no limit.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        api_port: int = 0,
        storage_quota: int = DEFAULT_QUOTA,
        block_retries: int = 3,
        retry_interval: float = 0.2,
        bootstrap: Sequence[str] = (),
        clock: Clock | None = None,
        profile: PerformanceProfile | str | Path = DEFAULT_PROFILE,
        api: ApiGeneration | str = ApiGeneration.CODEX_V1,
        network_miss_wait: float = 0.0,
        legacy_build: bool = False,
        uplink_bytes_per_s: float | None = None,
        downlink_bytes_per_s: float | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.request_timeout = request_timeout  # a block request with no byte this long fails
        self.profile = profile if isinstance(profile, PerformanceProfile) else load_profile(profile)
        self.api = ApiGeneration(api)
        self.network_miss_wait = network_miss_wait
        self.legacy_build = legacy_build
        if legacy_build and self.api is not ApiGeneration.CODEX_V1:
            raise ValueError("legacy_build is a Codex (codex-v1) build")
        self.host = host
        self.requested_port = api_port
        self.storage_quota = storage_quota
        self.block_retries = block_retries
        self.retry_interval = retry_interval
        self.bootstrap = tuple(bootstrap)
        self.clock: Clock = clock or SystemClock()  # retry waits and the profile's buckets
        # A shaped line (scenarios): all served / all received blocks together, per node.
        self.link = {
            "uplink_bytes_per_s": uplink_bytes_per_s,
            "downlink_bytes_per_s": downlink_bytes_per_s,
        }
        self.limits = NodeLimits(self.profile, self.clock, **self.link)
        self.served: Counter[str] = Counter()  # block-exchange bytes sent per asking peer
        self.requests: Counter[str] = Counter()  # block requests served / aborted by the asker
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._lock_fd: int | None = None
        self.spr = ""
        self._identity: NodeIdentity | None = None
        self._store: BlockStore | None = None
        self._network: PeerNetwork | None = None
        self._engine: Engine | None = None
        self._downloads: BackgroundDownloads | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        self._lock()
        try:
            await self._start_locked()
        except BaseException:
            await self.stop()
            raise

    async def _start_locked(self) -> None:
        self._identity = NodeIdentity.load_or_create(self.data_dir)
        self._store = BlockStore(self.data_dir / "repo", self.storage_quota)
        self._store.open()
        self._network = PeerNetwork(
            self._identity,
            block_retries=self.block_retries,
            retry_interval=self.retry_interval,
            request_timeout=self.request_timeout,
            clock=self.clock,
        )
        await self._network.start()
        self.limits = NodeLimits(self.profile, self.clock, **self.link)
        self._network.limits = self.limits
        self.served = Counter()
        self.requests = Counter()
        self._engine = Engine(self._store, self._network, self.limits)
        self._downloads = BackgroundDownloads(self._engine)
        app = web.Application(middlewares=[presto_errors], client_max_size=1 << 20)
        add_api_routes(app, self)
        add_exchange_routes(app, self)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BackendUnavailableError(
                    f"cannot start the local Codex node: {self.host}:{self.requested_port} is "
                    "already in use; choose another --api-port or stop the process using it"
                ) from None
            raise BackendUnavailableError(
                f"cannot start the local Codex node on {self.host}:{self.requested_port}: {exc}"
            ) from None
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        # seq: a fresh record supersedes older ones of the same peer (milliseconds since epoch).
        self.spr = self._identity.make_spr(self.listen_addrs, int(time.time() * 1000))
        self._network.own_spr = self.spr
        await self._network.bootstrap(self.bootstrap)
        log.info("REST service started address=%s peerId=%s", self.api_url, self.peer_id)

    async def stop(self) -> None:
        if self._network is not None:
            log.info(
                "exchange: served %d bytes, requests %s",
                sum(self.served.values()),
                dict(sorted({**self.requests, **self._network.requests}.items())),
            )
        if self._downloads is not None:
            await self._downloads.stop()
            self._downloads = None
        if self._engine is not None:
            await self._engine.stop()
        if self._network is not None:
            await self._network.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._engine = self._network = None
        self._store = None
        self._port = None
        self.spr = ""
        self._unlock()

    def _lock(self) -> None:
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BackendUnavailableError(
                f"data dir {self.data_dir} is in use by another local Codex node; "
                "give each node its own --data-dir"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    # --- properties -----------------------------------------------------------------------------

    @staticmethod
    def _need(value: T | None, what: str) -> T:
        if value is None:
            raise BackendUnavailableError(f"the local Codex node is not started ({what})")
        return value

    @property
    def port(self) -> int:
        return self._need(self._port, "port")

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}{API_PREFIXES[self.api]}"

    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    @property
    def listen_addrs(self) -> list[str]:
        return [tcp_multiaddr(self.host, self.port)]

    @property
    def identity(self) -> NodeIdentity:
        return self._need(self._identity, "identity")

    @property
    def store(self) -> BlockStore:
        return self._need(self._store, "store")

    @property
    def network(self) -> PeerNetwork:
        return self._need(self._network, "network")

    @property
    def downloads(self) -> BackgroundDownloads:
        return self._need(self._downloads, "downloads")

    @property
    def engine(self) -> Engine:
        return self._need(self._engine, "engine")

    async def connect(self, peer_id: str, addrs: Sequence[str]) -> None:
        """What `GET /connect/{peerId}?addrs=…` does (DialError if unreachable)."""
        await self.network.dial(peer_id, addrs)
