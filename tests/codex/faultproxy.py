"""A fault-injecting reverse proxy for the Codex REST API: a real aiohttp server on 127.0.0.1
between a Codex client and a real (local Codex-compatible) node, that forwards every call
and, on the routes a test names, answers with an error status, hangs, cuts the stream,
corrupts the body or trickles it.

    proxy = FaultProxy(node.api_url)
    await proxy.start()
    rule = proxy.inject(UPLOAD, Fault.status(500), times=1)
    ... CodexClient(proxy.api_url) ...
    await rule.fired.wait()          # an event, not a sleep
    await proxy.stop()

Rules match a method and a path pattern (relative to /api/codex/v1), optionally only paths
holding a given CID; the first matching rule with calls left applies, the rest pass through.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from local_http import serve

PREFIX = "/api/codex/v1"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
FORWARD_CHUNK = 16 << 10


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # regex over the path after PREFIX


UPLOAD = Route("POST", r"/data")
DOWNLOAD_LOCAL = Route("GET", r"/data/[^/]+")
DOWNLOAD_NETWORK = Route("GET", r"/data/[^/]+/network/stream")
MANIFEST = Route("GET", r"/data/[^/]+/network/manifest")
FETCH = Route("POST", r"/data/[^/]+/network")
EXISTS = Route("GET", r"/data/[^/]+/exists")
DELETE = Route("DELETE", r"/data/[^/]+")
ANY = Route("*", r".*")


@dataclass(frozen=True)
class Fault:
    """What the proxy does instead of a plain forward.

    - status: answer `status` with `body` without asking the node (`forward=True`: after the
      node did the work, as a node that fails while answering);
    - hang: read the request, then answer nothing until the proxy stops (the client's own
      timeout must end the call);
    - drop: read the request, then close the connection without any answer;
    - cut: forward, send the first `after` body bytes with the node's Content-Length, then drop
      the connection;
    - corrupt: forward, flip (XOR 0xFF) the body bytes at `offsets` (negative from the end),
      or replace the whole body with `body` when given;
    - trickle: forward, send the body at `rate` bytes per second.
    """

    kind: str
    status: int = 500
    body: bytes | None = None
    forward: bool = False
    after: int = 0
    offsets: tuple[int, ...] = ()
    rate: int = 1024

    @classmethod
    def error(
        cls, status: int = 500, body: bytes = b"injected fault", forward: bool = False
    ) -> Fault:
        return cls("status", status=status, body=body, forward=forward)

    @classmethod
    def hang(cls) -> Fault:
        return cls("hang")

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def cut(cls, after: int = 0) -> Fault:
        return cls("cut", after=after)

    @classmethod
    def corrupt(cls, *offsets: int, body: bytes | None = None) -> Fault:
        return cls("corrupt", offsets=offsets or (0,), body=body)

    @classmethod
    def trickle(cls, rate: int = 1024) -> Fault:
        return cls("trickle", rate=rate)


@dataclass
class Rule:
    route: Route
    fault: Fault
    times: int | None  # None: every matching call
    cid: str | None = None
    skip: int = 0  # matching calls that pass through before the fault applies
    hits: int = 0
    seen: int = 0
    fired: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.route.method not in ("*", method):
            return False
        if self.cid is not None and self.cid not in path.split("/"):
            return False
        if re.fullmatch(self.route.pattern, path) is None:
            return False
        self.seen += 1
        return self.seen > self.skip


class FaultProxy:
    """Reverse proxy for one Codex node's REST API with injectable faults."""

    def __init__(self, upstream_api_url: str) -> None:
        parts = urlsplit(upstream_api_url)
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.rules: list[Rule] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every call received
        self._release = asyncio.Event()  # ends every hang at stop()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.url = await serve(app, shutdown_timeout=0.1, handler_cancellation=True)

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def inject(
        self,
        route: Route,
        fault: Fault,
        *,
        times: int | None = None,
        cid: str | None = None,
        skip: int = 0,
    ) -> Rule:
        rule = Rule(route, fault, times, cid, skip)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def count(self, route: Route) -> int:
        return sum(
            1
            for method, path in self.calls
            if route.method in ("*", method) and re.fullmatch(route.pattern, path)
        )

    # --------------------------------------------------------------------------------------
    def _rule_for(self, method: str, path: str) -> Rule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                rule.hits += 1
                return rule
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else request.path
        self.calls.append((request.method, path))
        rule = self._rule_for(request.method, path)
        fault = rule.fault if rule is not None else None
        try:
            if fault is not None and fault.kind == "hang":
                await request.read()
                assert rule is not None
                rule.fired.set()  # applied now: the hang itself lasts until the proxy stops
                await self._release.wait()
                return web.Response(status=503, text="proxy stopped")
            if fault is not None and fault.kind == "drop":
                await request.read()
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=503)  # never reaches the closed connection
            if fault is not None and fault.kind == "status" and not fault.forward:
                await request.read()
                return web.Response(status=fault.status, body=fault.body)
            return await self._forward(request, fault)
        finally:
            if rule is not None:
                rule.fired.set()

    async def _forward(self, request: web.Request, fault: Fault | None) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.path_qs,
            headers=headers,
            data=body if body else None,
        ) as upstream:
            if fault is not None and fault.kind == "status":  # forward=True: after the work
                await upstream.read()
                return web.Response(status=fault.status, body=fault.body)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers[key] = value
            length = upstream.content_length
            if fault is not None and fault.kind == "corrupt" and fault.body is not None:
                data = fault.body
                response.content_length = len(data)
                await response.prepare(request)
                await response.write(data)
                await response.write_eof()
                return response
            if length is not None:
                response.content_length = length
            await response.prepare(request)
            await self._copy_body(request, upstream, response, fault, length)
            return response

    async def _copy_body(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        response: web.StreamResponse,
        fault: Fault | None,
        length: int | None,
    ) -> None:
        sent = 0
        flips: Callable[[int], set[int]] = lambda total: {  # noqa: E731
            o if o >= 0 else total + o for o in (fault.offsets if fault else ())
        }
        wanted = flips(length) if length is not None else flips(0)
        async for chunk in upstream.content.iter_chunked(FORWARD_CHUNK):
            if fault is not None and fault.kind == "cut":
                keep = max(0, fault.after - sent)
                if keep < len(chunk):
                    if keep:
                        await response.write(chunk[:keep])
                    # Drop the connection mid-body: the client sees a short stream.
                    if request.transport is not None:
                        request.transport.abort()
                    return
            if fault is not None and fault.kind == "corrupt":
                buf = bytearray(chunk)
                for offset in wanted:
                    if sent <= offset < sent + len(buf):
                        buf[offset - sent] ^= 0xFF
                chunk = bytes(buf)
            if fault is not None and fault.kind == "trickle":
                for start in range(0, len(chunk), max(1, fault.rate // 8)):
                    piece = chunk[start : start + max(1, fault.rate // 8)]
                    await response.write(piece)
                    # The fault itself: pace the body (the test waits on the client, not this).
                    await asyncio.sleep(len(piece) / fault.rate)
                sent += len(chunk)
                continue
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
