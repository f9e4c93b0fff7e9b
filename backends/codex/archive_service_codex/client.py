"""Async REST client of a Codex node (`/api/codex/v1`, nim-codex v0.2.x) or a Logos Storage
node (`/api/storage/v1`, v0.5.x), exact to what the real nodes answer (reference codex.md §1,
logos-storage.md §1, status-go §6.2), not to openapi.yaml where the two differ.

- The API generation is given (`codex-v1`, `storage-v1`) or probed once (`auto`, as
  logos-storage.md §3: `/api/storage/v1/debug/info`, then `/api/codex/v1/debug/info`).
- A route the node does not have answers 404 with an empty body: on an optional route
  (exists, delete, background-download cancel/progress) that is CodexNotSupported, never
  "not found"; `exists` then falls back to the node's dataset list.

- Uploads send `Content-Type: application/octet-stream` and
  `Content-Disposition: filename="archive-data.bin"` as status-go does: both end up in the
  manifest, so they decide the CID.
- Every status and body maps to a typed error (CodexError subclasses) carrying the node's text.
- Every call has a deadline (a real node retries an unknown CID for tens of minutes), with its
  own budget per call kind; only transient failures (connection errors, 502/503/504) are
  retried, with exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from archive_service.backoff import Backoff
from archive_service.errors import (
    ArchiveNotFoundError,
    ArchiveTimeoutError,
    BackendError,
    BackendUnavailableError,
    SizeLimitError,
)
from archive_service.fsutil import AtomicFile
from archive_service_codex.cid import DEFAULT_BLOCK_SIZE, InvalidCidError, parse_cid

DEFAULT_API_URL = "http://127.0.0.1:8080/api/codex/v1"


class ApiGeneration(StrEnum):
    """The REST API generation a node speaks."""

    CODEX_V1 = "codex-v1"  # nim-codex v0.2.x: /api/codex/v1
    STORAGE_V1 = "storage-v1"  # Logos Storage v0.5.x: /api/storage/v1


API_PREFIXES: dict[ApiGeneration, str] = {
    ApiGeneration.CODEX_V1: "/api/codex/v1",
    ApiGeneration.STORAGE_V1: "/api/storage/v1",
}
ApiSetting = Literal["auto", "codex-v1", "storage-v1"]


def node_root(api_url: str) -> str:
    """The node's base URL: `api_url` without a trailing generation prefix."""
    url = api_url.rstrip("/")
    for prefix in API_PREFIXES.values():
        if url.endswith(prefix):
            return url[: -len(prefix)]
    return url


UPLOAD_FILENAME = "archive-data.bin"
UPLOAD_MIMETYPE = "application/octet-stream"
UPLOAD_CHUNK = 1 << 20  # bytes read from a file per body chunk
MAX_CONTROL_BODY = 1 << 20  # JSON/text answers are tiny; a bigger one is not a Codex node
MAX_ERROR_TEXT = 2000  # characters of an error body kept in messages
TRANSIENT_STATUSES = frozenset({502, 503, 504})


# errors ---------------------------------------------------------------------------------
class CodexError(BackendError):
    """The Codex node refused or failed a call. `status` is the HTTP status (None when there
    was no HTTP answer), `body` the node's text."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class CodexBadRequest(CodexError):
    """400: the node could not parse the CID, peer id or parameter (e.g. 'Incorrect Cid')."""


class CodexNotFound(CodexError, ArchiveNotFoundError):
    """404, or 'Error retries exhausted': no local block / no peer holds the CID."""


class CodexRejected(CodexError):
    """415/422: the node refused the upload's Content-Type or filename."""


class CodexServerError(CodexError):
    """500 that is not a 'not found': a store or stream error on the node."""


class CodexUnavailable(CodexError, BackendUnavailableError):
    """The node cannot be reached, dropped the connection, or answered 502/503/504."""


class CodexNotReady(CodexUnavailable):
    """503 (Codex) or an empty 500 (Logos Storage) from /spr: the node's DHT record is not ready
    yet; ask again later."""


class CodexConflict(CodexError):
    """409 (Logos Storage): the node could not start a background download."""


class CodexNotSupported(CodexError):
    """The node lacks this route (404 with an empty body) or its API generation has no such
    operation: not a "not found"."""


class CodexTimeout(CodexError, ArchiveTimeoutError):
    """A call did not finish within its deadline."""


class CodexProtocolError(CodexError):
    """The answer is not what a Codex node sends (bad JSON, missing key, oversized body)."""


class CodexSizeLimitError(CodexError, SizeLimitError):
    """A download is larger than the caller's cap (checked before reading the body)."""


# results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    """ManifestItem JSON (codex.md §1.5, logos-storage.md §1.6): the fields that decide the
    manifest CID. `manifest_version` is set by Logos Storage's latest coder only, `uploaded_at`
    by builds whose manifests carry field 10."""

    tree_cid: str
    dataset_size: int
    block_size: int
    filename: str | None
    mimetype: str | None
    protected: bool
    verifiable: bool | None = None
    manifest_version: int | None = None
    uploaded_at: int | None = None


@dataclass(frozen=True)
class DataItem:
    cid: str
    manifest: Manifest
    download_id: int | None = None  # Logos Storage's background download (POST /network)


@dataclass(frozen=True)
class DownloadProgress:
    """`GET /data/{cid}/network/progress/{id}`: `active` false once finished, cancelled or
    unknown (the node does not tell these apart)."""

    active: bool
    received: int = 0
    total: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Space:
    total_blocks: int
    quota_max_bytes: int
    quota_used_bytes: int
    quota_reserved_bytes: int


@dataclass(frozen=True)
class DebugInfo:
    id: str
    addrs: list[str]
    spr: str
    repo: str
    version: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    generation: ApiGeneration = ApiGeneration.CODEX_V1


# configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientTimeouts:
    """Seconds, per call kind. None of them is shared between kinds."""

    connect: float = 5.0  # TCP connect to the node
    control: float = 15.0  # a whole small call: exists, delete, space, info, peerid, spr, ...
    upload: float = 600.0  # a whole upload, body included
    network: float = 60.0  # a manifest from the network (fetch, /network/manifest, stream start)
    download: float = 900.0  # a whole download body
    idle: float = 30.0  # silence between two chunks of a download body


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures only; `attempts` counts the first try."""

    attempts: int = 3
    backoff: float = 0.2
    backoff_max: float = 3.0

    def delay(self, failed_attempts: int) -> float:
        base = Backoff(self.backoff, maximum=self.backoff_max).delay(failed_attempts)
        return base * (0.5 + random.random() / 2)  # jitter: clients don't retry in lockstep


# helpers --------------------------------------------------------------------------------
def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"


def _seg(value: str) -> str:
    """One path segment: a CID or peer id is quoted whole, so it can never change the route."""
    return quote(value, safe="")


Retry = Literal["all", "connect", "never"]
_Body = bytes | Callable[[], AsyncIterator[bytes]] | None


class _Transient(Exception):
    def __init__(self, error: CodexError) -> None:
        self.error = error


class CodexDownload:
    """An open download: headers are in, the body is read with `chunks()`."""

    def __init__(
        self,
        client: CodexClient,
        response: httpx.Response,
        cid: str,
        max_size: int | None,
        deadline: float,
    ) -> None:
        self._client = client
        self._response = response
        self.cid = cid
        self.max_size = max_size
        self._deadline = deadline
        length = response.headers.get("content-length")
        self.size: int | None = int(length) if length and length.isdigit() else None
        self.content_type: str | None = response.headers.get("content-type")
        self.content_disposition: str | None = response.headers.get("content-disposition")
        self.received = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks; raises CodexTimeout on a silent node or past the deadline,
        CodexSizeLimitError past the cap, CodexUnavailable if the stream breaks or ends short."""
        loop = asyncio.get_running_loop()
        idle = self._client.timeouts.idle
        iterator = self._response.aiter_raw().__aiter__()
        while True:
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                raise CodexTimeout(
                    f"download of {self.cid} from {self._client.api_url} exceeded its deadline "
                    f"after {self.received} bytes; raise the download timeout or check the node"
                )
            try:
                async with asyncio.timeout(min(idle, remaining)):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise CodexTimeout(
                    f"download of {self.cid} from {self._client.api_url} stalled after "
                    f"{self.received} bytes (no data for {min(idle, remaining):g} s)"
                ) from None
            except httpx.TransportError as exc:
                raise CodexUnavailable(
                    f"download of {self.cid} from {self._client.api_url} broke after "
                    f"{self.received} bytes: {exc!r}; retry once the node is back"
                ) from exc
            self.received += len(chunk)
            if self.max_size is not None and self.received > self.max_size:
                raise CodexSizeLimitError(
                    f"download of {self.cid} exceeds the cap of {self.max_size} bytes"
                )
            if self.size is not None and self.received > self.size:
                raise CodexProtocolError(
                    f"download of {self.cid} sent more than its Content-Length {self.size}"
                )
            yield chunk
        if self.size is not None and self.received != self.size:
            raise CodexUnavailable(
                f"download of {self.cid} ended after {self.received} of {self.size} bytes; "
                "the node dropped the stream, retry"
            )


class CodexClient:
    """One long-lived client per backend (connection pooling). Use `async with` or `aclose()`."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        timeouts: ClientTimeouts | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 32,
        transport: httpx.AsyncBaseTransport | None = None,
        api: ApiSetting | ApiGeneration | None = None,
    ) -> None:
        """`api_url` is the node's URL, with or without a generation prefix. `api`: the
        generation, or `auto` to probe it once on the first call; None takes it from the
        URL's prefix (`…/api/codex/v1` → codex-v1, `…/api/storage/v1` → storage-v1) and
        probes a URL without one."""
        self.api_url = api_url.rstrip("/")
        self.node_url = node_root(self.api_url)
        self.timeouts = timeouts or ClientTimeouts()
        self.retry = retry or RetryPolicy()
        if api is None:
            named = [g for g, p in API_PREFIXES.items() if self.api_url.endswith(p)]
            api = named[0] if named else "auto"
        self.api = api
        self._generation: ApiGeneration | None = None if api == "auto" else ApiGeneration(api)
        self._probe_lock = asyncio.Lock()
        self._has_exists: bool | None = None  # learnt on the first /exists of a Codex node
        self._http = httpx.AsyncClient(
            base_url=self.node_url,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            # Proxies from the environment would send 127.0.0.1 calls elsewhere.
            trust_env=False,
            # Bodies are read raw and hashed against their CID: no content coding.
            headers={"Accept-Encoding": "identity"},
            transport=transport,
        )

    async def __aenter__(self) -> CodexClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def generation(self) -> ApiGeneration:
        """The node's API generation: the configured one, or probed once (logos-storage.md §3)
        and remembered."""
        if self._generation is not None:
            return self._generation
        async with self._probe_lock:
            if self._generation is None:
                self._generation = await self._probe()
        return self._generation

    async def _probe(self) -> ApiGeneration:
        failures = 0
        while True:
            try:
                async with asyncio.timeout(self.timeouts.control + self.timeouts.connect):
                    return await self._probe_once()
            except TimeoutError as exc:
                raise CodexTimeout(
                    f"node {self.node_url} did not answer the API probe within "
                    f"{self.timeouts.control:g} s"
                ) from exc
            except _Transient as transient:
                failures += 1
                if failures >= self.retry.attempts:
                    raise transient.error from transient.error.__cause__
                await asyncio.sleep(self.retry.delay(failures))

    async def _probe_once(self) -> ApiGeneration:
        answers: list[str] = []
        for generation, key in (
            (ApiGeneration.STORAGE_V1, "storage"),
            (ApiGeneration.CODEX_V1, "codex"),
        ):
            url = API_PREFIXES[generation] + "/debug/info"
            try:
                async with self._http.stream(
                    "GET", url, timeout=self._httpx_timeout(self.timeouts.control)
                ) as response:
                    data = await self._read_capped(response, MAX_CONTROL_BODY, "API probe")
            except httpx.TransportError as exc:
                error = CodexUnavailable(
                    f"node {self.node_url} unreachable: {exc!r}; is it running (Logos "
                    "Storage: with --api-bindaddr)?"
                )
                error.__cause__ = exc
                raise _Transient(error) from exc
            answers.append(f"{url}: HTTP {response.status_code}")
            if response.status_code in TRANSIENT_STATUSES:
                raise _Transient(
                    CodexUnavailable(f"node {self.node_url} busy during the API probe")
                )
            if response.status_code == 200:
                with contextlib.suppress(ValueError):
                    obj = json.loads(data)
                    if isinstance(obj, dict) and key in obj:
                        return generation
        raise CodexProtocolError(
            f"{self.node_url} answers neither as a Logos Storage nor as a Codex node "
            f"({'; '.join(answers)}); check the API URL, or set the `api` setting"
        )

    # plumbing -------------------------------------------------------------------------
    def _httpx_timeout(self, wait: float) -> httpx.Timeout:
        return httpx.Timeout(connect=self.timeouts.connect, read=wait, write=wait, pool=wait)

    def _error(self, op: str, status: int, body: str, optional: bool = False) -> CodexError:
        text = _clip(body.strip())
        where = f"Codex node {self.api_url}: {op} failed with HTTP {status}"
        msg = f"{where}: {text!r}" if text else where
        if status == 404 and not text and optional:
            return CodexNotSupported(
                f"Codex node {self.api_url} does not support {op} (HTTP 404 with an empty body: "
                "this node has no such route)",
                status=status,
            )
        if status == 400:
            hint = " (check the CID / peer id)"
            if "blocksize" in text.lower():
                hint = " (Logos Storage takes block sizes of 4096-524288 bytes, powers of two)"
            elif "download id" in text.lower() or "interpret as a bool" in text.lower():
                hint = " (check the parameters)"
            return CodexBadRequest(msg + hint, status=status, body=text)
        if status == 409:
            return CodexConflict(
                msg + " (the node could not start the background download)",
                status=status,
                body=text,
            )
        if status == 404 or (status == 500 and "retries exhausted" in text.lower()):
            return CodexNotFound(
                msg + " (no local block and no connected peer has it)", status=status, body=text
            )
        if status in (415, 422):
            return CodexRejected(msg, status=status, body=text)
        if status in TRANSIENT_STATUSES:
            return CodexUnavailable(msg + " (node busy or restarting)", status=status, body=text)
        if status >= 500:
            return CodexServerError(msg, status=status, body=text)
        return CodexProtocolError(msg + " (unexpected status)", status=status, body=text)

    async def _open(
        self,
        op: str,
        method: str,
        path: str,
        *,
        wait: float,
        retry: Retry,
        body: _Body = None,
        headers: dict[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
        ok: Sequence[int] = (200,),
        optional: bool = False,
    ) -> httpx.Response:
        """Send one request and return the open (streaming) response once its status is OK.
        `wait` bounds each attempt up to the response headers. `path` is relative to the API
        prefix of the node's generation. `optional`: the route may be missing on this node."""
        prefix = API_PREFIXES[await self.generation()]
        failures = 0
        while True:
            content: bytes | AsyncIterator[bytes] | None = body() if callable(body) else body
            request = self._http.build_request(
                method,
                prefix + path,
                content=content,
                headers=headers,
                params=params,
                timeout=self._httpx_timeout(wait),
            )
            try:
                return await self._attempt(op, request, wait, retry, ok, optional)
            except _Transient as transient:
                failures += 1
                if failures >= self.retry.attempts:
                    raise transient.error from transient.error.__cause__
                await asyncio.sleep(self.retry.delay(failures))

    async def _attempt(
        self,
        op: str,
        request: httpx.Request,
        wait: float,
        retry: Retry,
        ok: Sequence[int],
        optional: bool,
    ) -> httpx.Response:
        """One try of `request`; _Transient when another one may succeed."""
        try:
            async with asyncio.timeout(wait + self.timeouts.connect):
                # httpx closes the response it was opening when this is cancelled.
                response = await self._http.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the node: safe to retry whatever the call is.
            error = CodexUnavailable(
                f"Codex node {self.api_url} unreachable during {op}: {exc!r}; "
                "is the node running and is the API URL right?"
            )
            error.__cause__ = exc
            if retry == "never":
                raise error from exc
            raise _Transient(error) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise CodexTimeout(
                f"Codex node {self.api_url}: {op} got no answer within {wait:g} s "
                "(an unknown CID makes a node search for a long time)"
            ) from exc
        except httpx.TransportError as exc:
            error = CodexUnavailable(
                f"Codex node {self.api_url} dropped the connection during {op}: {exc!r}"
            )
            error.__cause__ = exc
            if retry == "all":
                raise _Transient(error) from exc
            raise error from exc
        if response.status_code in ok:
            return response
        try:
            text = await self._read_capped(response, MAX_ERROR_TEXT * 2, op, truncate=True)
        finally:
            await response.aclose()
        error = self._error(op, response.status_code, text.decode("utf-8", "replace"), optional)
        if response.status_code in TRANSIENT_STATUSES and retry == "all":
            raise _Transient(error)
        raise error

    async def _read_small(self, response: httpx.Response, op: str) -> bytes:
        """The whole body of a control or upload answer (capped), the response closed after."""
        try:
            return await self._read_capped(response, MAX_CONTROL_BODY, op)
        finally:
            await response.aclose()

    async def _read_capped(
        self, response: httpx.Response, cap: int, op: str, *, truncate: bool = False
    ) -> bytes:
        buf = bytearray()
        try:
            async for chunk in response.aiter_raw():
                buf += chunk
                if len(buf) > cap:
                    if truncate:
                        return bytes(buf[:cap])
                    raise CodexProtocolError(
                        f"Codex node {self.api_url}: {op} answered more than {cap} bytes; "
                        "is the API URL a Codex node?"
                    )
        except httpx.TransportError as exc:
            raise CodexUnavailable(
                f"Codex node {self.api_url} dropped the answer to {op}: {exc!r}"
            ) from exc
        return bytes(buf)

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        wait: float | None = None,
        retry: Retry = "all",
        headers: dict[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
        ok: Sequence[int] = (200,),
        optional: bool = False,
    ) -> tuple[httpx.Response, bytes]:
        """A small call read whole, all within one deadline."""
        wait = self.timeouts.control if wait is None else wait
        await self.generation()  # the probe has its own deadline
        try:
            async with asyncio.timeout(self.retry.attempts * (wait + self.timeouts.connect)):
                response = await self._open(
                    op,
                    method,
                    path,
                    wait=wait,
                    retry=retry,
                    headers=headers,
                    params=params,
                    ok=ok,
                    optional=optional,
                )
                data = await self._read_small(response, op)
        except TimeoutError as exc:
            raise CodexTimeout(
                f"Codex node {self.api_url}: {op} did not finish within its deadline"
            ) from exc
        return response, data

    def _json(self, op: str, data: bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:  # deep nesting exhausts the parser's stack
            raise CodexProtocolError(
                f"Codex node {self.api_url}: {op} answered invalid JSON: {_clip(repr(data))}"
            ) from exc

    def _data_item(self, op: str, obj: Any) -> DataItem:
        try:
            m = obj["manifest"]
            version = m.get("manifestVersion")
            uploaded_at = m.get("uploadedAt")
            download_id = obj.get("downloadId")
            manifest = Manifest(
                tree_cid=_str(m["treeCid"]),
                dataset_size=_int(m["datasetSize"]),
                block_size=_int(m["blockSize"]),
                filename=_opt_str(m.get("filename")),
                mimetype=_opt_str(m.get("mimetype")),
                protected=bool(m.get("protected", False)),
                verifiable=m.get("verifiable"),
                manifest_version=None if version is None else _int(version),
                uploaded_at=None if uploaded_at is None else _int(uploaded_at),
            )
            return DataItem(
                cid=_str(obj["cid"]),
                manifest=manifest,
                download_id=None if download_id is None else _int(download_id),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CodexProtocolError(
                f"Codex node {self.api_url}: {op} answered an unexpected manifest: "
                f"{_clip(json.dumps(obj))} ({exc!r})"
            ) from exc

    # data -----------------------------------------------------------------------------
    async def upload(
        self,
        data: bytes | Path | AsyncIterable[bytes],
        *,
        size: int | None = None,
        filename: str | None = UPLOAD_FILENAME,
        mimetype: str | None = UPLOAD_MIMETYPE,
        block_size: int | None = None,
        advertise: bool | None = None,
    ) -> str:
        """Store `data` on the node; returns the manifest CID. Bytes and files are retried on
        transient failures (uploads are content-addressed, so a repeat stores nothing twice);
        a one-shot async iterable is retried only when nothing was sent. `block_size` and
        `advertise` are Logos Storage's (`?blockSize=`, `?advertise=`); a Codex node stores
        64 KiB blocks and always advertises, so other values raise CodexNotSupported."""
        params: list[tuple[str, str]] = []
        if await self.generation() is ApiGeneration.STORAGE_V1:
            if block_size is not None:
                params.append(("blockSize", str(block_size)))
            if advertise is not None:
                params.append(("advertise", "true" if advertise else "false"))
        elif block_size not in (None, DEFAULT_BLOCK_SIZE) or advertise is False:
            raise CodexNotSupported(
                f"Codex node {self.api_url} (codex-v1) cannot upload with block size "
                f"{block_size} / advertise={advertise}; these need a Logos Storage node"
            )
        headers: dict[str, str] = {}
        if mimetype:
            headers["Content-Type"] = mimetype
        if filename:
            headers["Content-Disposition"] = f'filename="{filename}"'
        body: _Body
        retry: Retry = "all"
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            size = len(body)
        elif isinstance(data, Path):
            path = data
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise CodexError(f"cannot upload {path}: {exc}") from exc
            body = lambda: _file_chunks(path)  # noqa: E731 - a fresh reader per attempt
        else:
            iterable = data
            body = lambda: aiter(iterable)  # noqa: E731
            retry = "connect"
        if size == 0:
            raise CodexRejected(
                "Codex cannot store an empty file (the node answers 'Request do not have body "
                "available'); nothing was uploaded"
            )
        if size is not None:
            # Known length: a plain body instead of chunked encoding, as status-go sends.
            headers["Content-Length"] = str(size)
        op = "upload"
        try:
            async with asyncio.timeout(self.retry.attempts * (self.timeouts.upload + 1)):
                response = await self._open(
                    op,
                    "POST",
                    "/data",
                    wait=self.timeouts.upload,
                    retry=retry,
                    body=body,
                    headers=headers,
                    params=params or None,
                )
                text = await self._read_small(response, op)
        except TimeoutError as exc:
            raise CodexTimeout(
                f"upload to {self.api_url} did not finish within {self.timeouts.upload:g} s"
            ) from exc
        cid = text.decode("utf-8", "replace").strip()
        if not cid:
            raise CodexProtocolError(f"Codex node {self.api_url} answered an upload with no CID")
        return cid

    @contextlib.asynccontextmanager
    async def open_download(
        self,
        cid: str,
        *,
        network: bool = False,
        max_size: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[CodexDownload]:
        """Open `GET /data/{cid}` (local store) or `/data/{cid}/network/stream` (fetch missing
        blocks from peers). The size cap is checked against Content-Length before any body
        byte is read. `timeout` bounds the whole download (default: timeouts.download)."""
        path = f"/data/{_seg(cid)}/network/stream" if network else f"/data/{_seg(cid)}"
        op = f"{'network ' if network else ''}download of {cid}"
        total = self.timeouts.download if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total
        wait = self.timeouts.network if network else self.timeouts.control
        try:
            async with asyncio.timeout(total):
                response = await self._open(op, "GET", path, wait=min(wait, total), retry="all")
        except TimeoutError as exc:
            raise CodexTimeout(f"{op} from {self.api_url}: no answer within {total:g} s") from exc
        try:
            download = CodexDownload(self, response, cid, max_size, deadline)
            if max_size is not None and download.size is not None and download.size > max_size:
                raise CodexSizeLimitError(
                    f"{op}: the node announces {download.size} bytes, over the cap of "
                    f"{max_size} bytes; nothing was read"
                )
            yield download
        finally:
            await response.aclose()

    async def download_to(
        self,
        cid: str,
        sink: Callable[[bytes], Awaitable[object] | object],
        *,
        network: bool = False,
        max_size: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Stream the body into `sink` (sync or async callable); returns the byte count."""
        async with self.open_download(
            cid, network=network, max_size=max_size, timeout=timeout
        ) as download:
            async for chunk in download.chunks():
                result = sink(chunk)
                if inspect.isawaitable(result):
                    await result
            return download.received

    async def download_bytes(
        self,
        cid: str,
        *,
        network: bool = False,
        max_size: int | None = None,
        timeout: float | None = None,
    ) -> bytes:
        buf = bytearray()
        await self.download_to(cid, buf.extend, network=network, max_size=max_size, timeout=timeout)
        return bytes(buf)

    async def download_file(
        self,
        cid: str,
        dest: Path,
        *,
        network: bool = False,
        max_size: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Download into `dest` atomically (fsutil.AtomicFile: temp file beside it, fsync,
        rename). On any error `dest` is untouched and the temp file removed."""
        with AtomicFile(dest) as out:
            n = await self.download_to(
                cid, out.write, network=network, max_size=max_size, timeout=timeout
            )
            await asyncio.to_thread(out.commit)
        return n

    async def fetch(self, cid: str) -> DataItem:
        """`POST /data/{cid}/network`: wait for the manifest (local or from peers), start a
        background fetch of the dataset and return. A Logos Storage node also returns the
        fetch's `download_id` (progress, cancel); a Codex node reports no completion."""
        op = f"network fetch of {cid}"
        _, data = await self._call(
            op, "POST", f"/data/{_seg(cid)}/network", wait=self.timeouts.network
        )
        return self._data_item(op, self._json(op, data))

    @contextlib.asynccontextmanager
    async def background_download(self, cid: str) -> AsyncIterator[DataItem]:
        """`fetch`, cancelled on the node (when it has a download id) if the block raises or
        is cancelled: a caller that gives up leaves nothing running on the node."""
        item = await self.fetch(cid)
        try:
            yield item
        except BaseException:
            if item.download_id is not None:
                task = asyncio.ensure_future(self.cancel_download(cid, item.download_id))
                with contextlib.suppress(CodexError, asyncio.CancelledError):
                    await asyncio.shield(task)
            raise

    def _storage_only(self, op: str) -> None:
        if self._generation is not ApiGeneration.STORAGE_V1:
            raise CodexNotSupported(
                f"Codex node {self.api_url} (codex-v1) has no {op}; it needs a Logos Storage node"
            )

    async def cancel_download(self, cid: str, download_id: int) -> None:
        """`DELETE /data/{cid}/network/{downloadId}` (Logos Storage): 204; CodexNotFound when
        the node does not know the download (finished or never started)."""
        await self.generation()
        op = f"cancel of download {download_id} of {cid}"
        self._storage_only(op)
        await self._call(
            op,
            "DELETE",
            f"/data/{_seg(cid)}/network/{int(download_id)}",
            ok=(204,),
            optional=True,
        )

    async def download_progress(self, cid: str, download_id: int) -> DownloadProgress:
        """`GET /data/{cid}/network/progress/{downloadId}` (Logos Storage)."""
        await self.generation()
        op = f"progress of download {download_id} of {cid}"
        self._storage_only(op)
        _, data = await self._call(
            op, "GET", f"/data/{_seg(cid)}/network/progress/{int(download_id)}", optional=True
        )
        obj = self._json(op, data)
        try:
            if not isinstance(obj, dict) or not isinstance(obj["active"], bool):
                raise TypeError("no boolean 'active'")
            if not obj["active"]:
                return DownloadProgress(active=False)
            return DownloadProgress(
                active=True,
                received=_int(obj["received"]),
                total=_int(obj["total"]),
                bytes=_int(obj["bytes"]),
            )
        except (KeyError, TypeError) as exc:
            raise CodexProtocolError(
                f"Codex node {self.api_url}: {op} answered {_clip(repr(obj))}"
            ) from exc

    async def manifest(self, cid: str) -> DataItem:
        """`GET /data/{cid}/network/manifest`: the manifest, from peers if not local."""
        op = f"manifest of {cid}"
        _, data = await self._call(
            op, "GET", f"/data/{_seg(cid)}/network/manifest", wait=self.timeouts.network
        )
        return self._data_item(op, self._json(op, data))

    async def exists(self, cid: str) -> bool:
        """Whether the node holds the block with this CID — for a dataset, only its manifest
        block (status-go §11.10). The node answers `{"<cid>": bool}` keyed by the CID's
        canonical `z…` form (also when it was asked with another multibase). A node without
        the route (no v0.2.x release has it) is asked for its dataset list instead, which
        answers for manifest CIDs."""
        if self._has_exists is False:
            return await self._listed(cid)
        op = f"exists of {cid}"
        try:
            _, data = await self._call(op, "GET", f"/data/{_seg(cid)}/exists", optional=True)
        except CodexNotSupported:
            self._has_exists = False
            return await self._listed(cid)
        self._has_exists = True
        obj = self._json(op, data)
        try:
            key = parse_cid(cid).text
        except InvalidCidError:
            key = cid  # the node answered 200 for it, so it parsed there
        if not isinstance(obj, dict) or key not in obj:
            raise CodexProtocolError(
                f"Codex node {self.api_url}: {op}: response missing CID key {key!r}: "
                f"{_clip(data.decode('utf-8', 'replace'))}"
            )
        value = obj[key]
        if not isinstance(value, bool):
            raise CodexProtocolError(f"Codex node {self.api_url}: {op}: {value!r} is not a bool")
        return value

    async def _listed(self, cid: str) -> bool:
        """The local lookup of a node without `/exists`: its manifests (`GET /data`)."""
        try:
            parsed = parse_cid(cid)
        except InvalidCidError as exc:
            raise CodexBadRequest(
                f"exists of {cid}: not a CID ({exc})", status=400, body=exc.reason
            ) from exc
        if not parsed.is_manifest:
            raise CodexNotSupported(
                f"Codex node {self.api_url} has no /exists; only manifest CIDs can be looked up "
                f"in its dataset list, and {cid} is not one"
            )
        for item in await self.datasets():
            with contextlib.suppress(InvalidCidError):
                if parse_cid(item.cid) == parsed:
                    return True
        return False

    async def delete(self, cid: str) -> None:
        """`DELETE /data/{cid}`: 204, also when the node does not hold it; CodexNotSupported
        on a build without the route."""
        await self._call(
            f"delete of {cid}", "DELETE", f"/data/{_seg(cid)}", ok=(204,), optional=True
        )

    async def datasets(self) -> list[DataItem]:
        """`GET /data`: every manifest the node stores (uploaded or fetched), unordered."""
        op = "list"
        _, data = await self._call(op, "GET", "/data")
        obj = self._json(op, data)
        if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
            raise CodexProtocolError(f"Codex node {self.api_url}: list answered {obj!r}")
        return [self._data_item(op, item) for item in obj["content"]]

    # node -----------------------------------------------------------------------------
    async def space(self) -> Space:
        op = "space"
        _, data = await self._call(op, "GET", "/space")
        obj = self._json(op, data)
        try:
            return Space(
                total_blocks=_int(obj["totalBlocks"]),
                quota_max_bytes=_int(obj["quotaMaxBytes"]),
                quota_used_bytes=_int(obj["quotaUsedBytes"]),
                quota_reserved_bytes=_int(obj["quotaReservedBytes"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CodexProtocolError(f"Codex node {self.api_url}: space answered {obj!r}") from exc

    async def debug_info(self) -> DebugInfo:
        op = "debug/info"
        _, data = await self._call(op, "GET", "/debug/info")
        obj = self._json(op, data)
        try:
            generation = await self.generation()
            key = "storage" if generation is ApiGeneration.STORAGE_V1 else "codex"
            versions = obj.get(key) or {}
            return DebugInfo(
                id=_str(obj["id"]),
                addrs=[_str(a) for a in obj.get("addrs", [])],
                spr=_str(obj.get("spr", "")),
                repo=_str(obj.get("repo", "")),
                version=str(versions.get("version", "")) if isinstance(versions, dict) else "",
                raw=obj,
                generation=generation,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CodexProtocolError(
                f"Codex node {self.api_url}: debug/info answered {_clip(repr(obj))}"
            ) from exc

    async def peer_id(self) -> str:
        op = "peerid"
        _, data = await self._call(op, "GET", "/peerid", headers={"Accept": "application/json"})
        obj = self._json(op, data)
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise CodexProtocolError(f"Codex node {self.api_url}: peerid answered {obj!r}")
        return obj["id"]

    async def spr(self) -> str:
        """The node's signed peer record; CodexNotReady (503) until its DHT record exists."""
        op = "spr"
        try:
            _, data = await self._call(
                op, "GET", "/spr", headers={"Accept": "application/json"}, retry="connect"
            )
        except (CodexUnavailable, CodexServerError) as exc:
            # Codex: 503 empty; Logos Storage: 500 empty.
            if exc.status == 503 or (exc.status == 500 and not exc.body):
                raise CodexNotReady(
                    f"Codex node {self.api_url} has no signed peer record yet "
                    f"({exc.status}); retry once its discovery is up",
                    status=exc.status,
                    body=exc.body,
                ) from exc
            raise
        obj = self._json(op, data)
        if not isinstance(obj, dict) or not isinstance(obj.get("spr"), str):
            raise CodexProtocolError(f"Codex node {self.api_url}: spr answered {obj!r}")
        return obj["spr"]

    async def connect(self, peer_id: str, addrs: Sequence[str] = ()) -> None:
        """Dial a peer at the given multiaddresses (or through the DHT without any)."""
        await self._call(
            f"connect to {peer_id}",
            "GET",
            f"/connect/{_seg(peer_id)}",
            params=[("addrs", a) for a in addrs],
            wait=self.timeouts.network,
        )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{value!r} is not a non-negative integer")
    return value


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, UPLOAD_CHUNK):
            yield chunk
