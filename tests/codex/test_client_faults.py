"""CodexClient against faults a Codex node cannot be made to produce on demand: 502/503/504,
a refused connection, a node that never answers, a stalled or truncated body, malformed
answers. Each is a real aiohttp server on 127.0.0.1 scripted per test (a real HTTP server, not
a mock); the behaviours a real node does produce are tested in test_client_rest.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from archive_service_codex.client import (
    ClientTimeouts,
    CodexBadRequest,
    CodexClient,
    CodexNotFound,
    CodexNotReady,
    CodexProtocolError,
    CodexSizeLimitError,
    CodexTimeout,
    CodexUnavailable,
    RetryPolicy,
)
from local_http import serve

CID = "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy"
PREFIX = "/api/codex/v1"
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Script:
    """A real HTTP server whose routes answer from a per-test script; counts requests."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.hits: dict[tuple[str, str], int] = {}
        self.bodies: list[bytes] = []
        self.url = ""

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, PREFIX + path)] = handler

    def count(self, method: str, path: str) -> int:
        return self.hits.get((method, PREFIX + path), 0)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        key = (request.method, request.path)
        self.hits[key] = self.hits.get(key, 0) + 1
        handler = self.routes.get(key)
        if handler is None:
            return web.Response(status=404)
        return await handler(request)


@pytest.fixture
async def script() -> AsyncIterator[Script]:
    s = Script()
    app = web.Application(client_max_size=64 << 20)
    app.router.add_route("*", "/{tail:.*}", s.dispatch)
    runner, url = await serve(app, shutdown_timeout=0.1)
    s.url = url + PREFIX
    yield s
    await runner.cleanup()


def text(body: str, status: int = 200, content_type: str = "text/plain") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, text=body, content_type=content_type)

    return handler


def sequence(*handlers: Handler) -> Handler:
    """Answer the n-th request with the n-th handler (the last one repeats)."""
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        i = min(calls["n"], len(handlers) - 1)
        calls["n"] += 1
        return await handlers[i](request)

    return handler


def client(url: str, **timeouts: float) -> CodexClient:
    return CodexClient(url, timeouts=ClientTimeouts(**timeouts), retry=FAST_RETRY)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# transient statuses ------------------------------------------------------------------------
@pytest.mark.parametrize("status", [502, 503, 504])
async def test_transient_status_is_retried_then_succeeds(script: Script, status: int) -> None:
    script.on(
        "GET",
        f"/data/{CID}/exists",
        sequence(
            text("busy", status, "text/html"), text(f'{{"{CID}":true}}', 200, "application/json")
        ),
    )
    async with client(script.url) as c:
        assert await c.exists(CID) is True
    assert script.count("GET", f"/data/{CID}/exists") == 2


async def test_transient_status_gives_up_after_the_attempts(script: Script) -> None:
    script.on("GET", "/space", text("Service Unavailable", 503, "text/html"))
    async with client(script.url) as c:
        with pytest.raises(CodexUnavailable) as err:
            await c.space()
    assert err.value.status == 503
    assert "Service Unavailable" in str(err.value)
    assert script.count("GET", "/space") == FAST_RETRY.attempts


@pytest.mark.parametrize(
    ("status", "error", "body"),
    [
        (400, CodexBadRequest, "Incorrect Cid"),
        (404, CodexNotFound, "The requested CID could not be retrieved"),
        (500, CodexNotFound, "Error retries exhausted"),
    ],
)
async def test_permanent_errors_are_not_retried(
    script: Script, status: int, error: type[Exception], body: str
) -> None:
    script.on("POST", f"/data/{CID}/network", text(body, status, "text/html"))
    async with client(script.url) as c:
        with pytest.raises(error) as err:
            await c.fetch(CID)
    assert body in str(err.value)
    assert script.count("POST", f"/data/{CID}/network") == 1


async def test_upload_of_bytes_is_retried_on_503_with_the_same_body(script: Script) -> None:
    async def stored(request: web.Request) -> web.Response:
        script.bodies.append(await request.read())
        return web.Response(text=CID + "\n")

    async def busy(request: web.Request) -> web.Response:
        script.bodies.append(await request.read())
        return web.Response(status=503)

    script.on("POST", "/data", sequence(busy, stored))
    async with client(script.url) as c:
        assert await c.upload(b"payload") == CID  # trailing newline stripped
    assert script.bodies == [b"payload", b"payload"]


async def test_upload_of_a_file_is_retried_on_502(script: Script, tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # several body chunks

    async def busy(request: web.Request) -> web.Response:
        script.bodies.append(await request.read())
        return web.Response(status=502)

    async def stored(request: web.Request) -> web.Response:
        script.bodies.append(await request.read())
        assert request.headers["Content-Length"] == str(len(data))
        return web.Response(text=CID)

    path = tmp_path / "archive"
    path.write_bytes(data)
    script.on("POST", "/data", sequence(busy, stored))
    async with client(script.url) as c:
        assert await c.upload(path) == CID
    assert script.bodies == [data, data]


async def test_upload_of_a_one_shot_stream_is_not_repeated(script: Script) -> None:
    script.on("POST", "/data", text("", 503))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"once"

    async with client(script.url) as c:
        with pytest.raises(CodexUnavailable):
            await c.upload(chunks())
    assert script.count("POST", "/data") == 1


async def test_upload_headers_are_status_go_s(script: Script) -> None:
    seen = {}

    async def stored(request: web.Request) -> web.Response:
        seen.update(request.headers)
        await request.read()
        return web.Response(text=CID)

    script.on("POST", "/data", stored)
    async with client(script.url) as c:
        await c.upload(b"x" * 100)
    assert seen["Content-Type"] == "application/octet-stream"
    assert seen["Content-Disposition"] == 'filename="archive-data.bin"'
    assert seen["Content-Length"] == "100"


# unreachable / silent nodes -------------------------------------------------------------------
@dataclass(frozen=True)
class RecordingRetry(RetryPolicy):
    """A retry policy that records the back-off waits it hands out, so a test checks the waits
    the client asks for instead of timing it."""

    waits: list[float] = field(default_factory=list)

    def delay(self, failed_attempts: int) -> float:
        wait = super().delay(failed_attempts)
        self.waits.append(wait)
        return wait


async def test_connection_refused_is_typed_and_bounded() -> None:
    url = f"http://127.0.0.1:{free_port()}{PREFIX}"
    retry = RecordingRetry(attempts=3, backoff=0.01, backoff_max=0.05)
    async with CodexClient(url, retry=retry) as c:
        with pytest.raises(CodexUnavailable) as err:
            await c.debug_info()
    # Bounded: the policy's attempts, with its capped back-off between them, and no more.
    assert len(retry.waits) == retry.attempts - 1
    assert all(0 < wait <= retry.backoff_max for wait in retry.waits)
    assert "unreachable" in str(err.value)


async def test_a_node_that_never_answers_times_out(script: Script) -> None:
    release = asyncio.Event()  # the node answers only once the client has given up
    answered = []

    async def silent(request: web.Request) -> web.Response:
        await release.wait()
        answered.append(request.path)
        return web.Response()

    script.on("GET", f"/data/{CID}/network/manifest", silent)
    try:
        async with client(script.url, network=0.5) as c:
            # The client's own network budget ends the call, not the node's answer.
            with pytest.raises(CodexTimeout, match=r"manifest.* no answer within 0\.5 s"):
                await c.manifest(CID)
        assert answered == []
    finally:
        release.set()
    assert script.count("GET", f"/data/{CID}/network/manifest") == 1  # timeouts not retried


async def test_a_stalled_body_times_out(script: Script) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "200000"})
        await response.prepare(request)
        await response.write(b"x" * 1000)
        await asyncio.Event().wait()  # stalls for good (until the server shuts down)
        return response

    script.on("GET", f"/data/{CID}", stall)
    async with client(script.url, idle=0.5) as c:
        with pytest.raises(CodexTimeout) as err:
            await c.download_bytes(CID)
    assert "stalled after 1000 bytes" in str(err.value)


async def test_the_whole_download_has_a_deadline(script: Script) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"x" * 100)
            await asyncio.sleep(0.05)
        return response

    script.on("GET", f"/data/{CID}", trickle)
    async with client(script.url, idle=5) as c:
        # The whole-download deadline ends it, not the end of the body nor the 5 s idle
        # timeout: either between chunks, or as a wait for the next chunk cut to what is left
        # of the 0.6 s.
        deadline = r"exceeded its deadline|stalled after \d+ bytes \(no data for 0\.\d+ s\)"
        with pytest.raises(CodexTimeout, match=deadline):
            await c.download_bytes(CID, timeout=0.6)


async def test_a_truncated_body_is_an_error_and_leaves_no_file(
    script: Script, tmp_path: Path
) -> None:
    async def truncated(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"x" * 5000)
        request.transport.close()  # type: ignore[union-attr]
        return response

    script.on("GET", f"/data/{CID}/network/stream", truncated)
    dest = tmp_path / "out"
    async with client(script.url) as c:
        with pytest.raises(CodexUnavailable):
            await c.download_file(CID, dest, network=True)
    assert os.listdir(tmp_path) == []


async def test_size_cap_is_checked_before_reading(script: Script, tmp_path: Path) -> None:
    sent = {"bytes": 0}

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(10 * 65536)})
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 65536)
            sent["bytes"] += 65536
        return response

    script.on("GET", f"/data/{CID}", big)
    async with client(script.url) as c:
        with pytest.raises(CodexSizeLimitError) as err:
            await c.download_file(CID, tmp_path / "out", max_size=65536)
    assert "nothing was read" in str(err.value)
    assert os.listdir(tmp_path) == []


async def test_size_cap_holds_without_content_length(script: Script) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 65536)
        return response

    script.on("GET", f"/data/{CID}", chunked)
    async with client(script.url) as c:
        with pytest.raises(CodexSizeLimitError):
            await c.download_bytes(CID, max_size=100_000)


# malformed answers ---------------------------------------------------------------------------
async def test_exists_without_the_cid_key_is_a_protocol_error(script: Script) -> None:
    # openapi.yaml's shape; the real node keys the answer by the CID (status-go reads that).
    script.on("GET", f"/data/{CID}/exists", text('{"has":true}', 200, "application/json"))
    async with client(script.url) as c:
        with pytest.raises(CodexProtocolError) as err:
            await c.exists(CID)
    assert "missing CID key" in str(err.value)


async def test_bad_json_and_bad_manifest_are_protocol_errors(script: Script) -> None:
    script.on("GET", "/space", text("<html>", 200, "text/html"))
    script.on(
        "GET",
        f"/data/{CID}/network/manifest",
        text(f'{{"cid":"{CID}","manifest":{{"treeCid":1}}}}', 200, "application/json"),
    )
    async with client(script.url) as c:
        with pytest.raises(CodexProtocolError):
            await c.space()
        with pytest.raises(CodexProtocolError):
            await c.manifest(CID)


async def test_spr_not_ready_is_typed(script: Script) -> None:
    script.on("GET", "/spr", text("", 503, "application/json"))
    async with client(script.url) as c:
        with pytest.raises(CodexNotReady):
            await c.spr()


async def test_an_oversized_control_answer_is_refused(script: Script) -> None:
    script.on("GET", "/debug/info", text("{" + " " * (2 << 20) + "}", 200, "application/json"))
    async with client(script.url) as c:
        with pytest.raises(CodexProtocolError):
            await c.debug_info()


async def test_cids_cannot_escape_their_path_segment(script: Script) -> None:
    async with client(script.url) as c:
        with pytest.raises(CodexNotFound):
            await c.download_bytes("../../space")
    assert script.count("GET", "/space") == 0
