"""The REST API of either generation, as the real nodes answer it: Codex (`/api/codex/v1`,
nim-codex v0.2.x, reference/codex.md §1) or Logos Storage (`/api/storage/v1`, v0.5.x,
reference/logos-storage.md §1): statuses, bare-text error bodies with `Content-Type: text/html`,
`text/plain` strings, compact JSON (pretty only for `/debug/info`), no HEAD routes, unknown paths
and methods → 404 with an empty body."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from archive_service_codex.cid import (
    DEFAULT_BLOCK_SIZE,
    Cid,
    InvalidCidError,
    Manifest,
    ManifestCoder,
    parse_cid,
)
from archive_service_codex.client import API_PREFIXES, ApiGeneration

from archive_service.errors import BackendError, InvalidInputError
from archive_service_codex_node.engine import (
    INVALID_MANIFEST_CODEC,
    StoreError,
)
from archive_service_codex_node.identity import (
    InvalidPeerIdError,
    node_id_for,
    parse_peer_id,
    parse_tcp_multiaddr,
    peer_id_public_key,
)
from archive_service_codex_node.peers import BlockNotFoundError, DialError
from archive_service_codex_node.validation import (
    content_type_parses,
    filename_from_content_disposition,
    is_valid_filename,
    is_valid_upload_mimetype,
)

if TYPE_CHECKING:
    from archive_service_codex_node.downloads import BackgroundDownload
    from archive_service_codex_node.server import LocalCodexNode

log = logging.getLogger(__name__)

API_PREFIX = API_PREFIXES[ApiGeneration.CODEX_V1]
MIN_BLOCK_SIZE, MAX_BLOCK_SIZE = 4096, 524288  # Logos Storage's storagetypes.nim
INVALID_BLOCK_SIZE = "Invalid blockSize parameter"
BAD_BLOCK_SIZE = "blockSize must be a power of two between 4096 and 524288 bytes"
MAX_FILENAME, MAX_MIMETYPE = 255, 128
NETWORK_TIMEOUT = "Timeout exceeded!"  # what a real node answered after holding a miss 600 s
STORAGE_VERSION = {"version": "untagged build", "revision": "local"}
_TRUE, _FALSE = {"y", "yes", "true", "1", "on"}, {"n", "no", "false", "0", "off"}


def parse_bool(value: str) -> bool:
    """Nim's strutils.parseBool after `normalize` (ValueError with Nim's message)."""
    norm = value.replace("_", "").lower()
    if norm in _TRUE:
        return True
    if norm in _FALSE:
        return False
    raise ValueError(f"cannot interpret as a bool: {value}")


NOT_IN_LOCAL_STORE = "The requested CID could not be retrieved (Block not found in local store)."
NO_BODY = "Request do not have body available"
PERSISTENCE_DISABLED = "Persistence is not enabled"
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL", "NONE")
_PY_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "NOTICE": 25, "WARN": 30, "ERROR": 40}
VERSION = {"version": "untagged build", "revision": "local", "contracts": "none"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- response helpers ----------------------------------------------------------------------------


def text(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body.encode(), headers={"Content-Type": "text/plain"})


def error(status: int, message: str = "") -> web.Response:
    """presto's RestApiResponse.error: the bare message, Content-Type text/html."""
    return web.Response(status=status, body=message.encode(), headers={"Content-Type": "text/html"})


def compact_json(value: Any) -> str:
    """Nim's `$` on a JsonNode: no spaces, UTF-8 left as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_response(value: Any, *, pretty: bool = False) -> web.Response:
    body = json.dumps(value, indent=2, ensure_ascii=False) if pretty else compact_json(value)
    return web.Response(body=body.encode(), headers={"Content-Type": "application/json"})


def data_item(cid: Cid, manifest: Manifest) -> dict[str, Any]:
    return {"cid": cid.text, "manifest": manifest.to_json()}


def wants_text(request: web.Request) -> bool:
    """The highest-preference media type of Accept is text/plain (else JSON)."""
    best, best_q = "", -1.0
    for item in request.headers.get("Accept", "").split(","):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                with contextlib.suppress(ValueError):
                    q = float(param[2:])
        if media and q > best_q:
            best, best_q = media.lower(), q
    return best == "text/plain"


@web.middleware
async def presto_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """presto answers an unknown path or method (HEAD included) with 404."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error(404)
        raise


# --- the routes ----------------------------------------------------------------------------------


def add_api_routes(app: web.Application, node: LocalCodexNode) -> None:
    engine, store = node.engine, node.store
    storage = node.api is ApiGeneration.STORAGE_V1
    legacy = node.legacy_build
    coder = ManifestCoder.STORAGE if storage else ManifestCoder.CODEX
    downloads = node.downloads
    advertised: dict[Cid, bool] = {}  # Logos Storage's per-dataset advertise flag

    async def network_miss(cid: Cid, exc: Exception, status: int) -> web.Response:
        """A CID nobody has: answered at once, or (network_miss_wait) held as the real node
        held it, then 404 `Timeout exceeded!`."""
        if node.network_miss_wait > 0 and isinstance(exc, BlockNotFoundError):
            await node.clock.sleep(node.network_miss_wait)
            return error(404, NETWORK_TIMEOUT)
        return error(status, str(exc))

    def storage_query_error(request: web.Request) -> web.Response | None:
        """`transport` and `advertise` of Logos Storage's network routes."""
        if not storage:
            return None
        if request.query.get("transport", "direct") not in ("direct", "mix"):
            return error(400, "transport must be 'direct' or 'mix'")
        if "advertise" in request.query:
            try:
                parse_bool(request.query["advertise"])
            except ValueError as exc:
                return error(400, str(exc))
        return None

    def cid_param(request: web.Request) -> Cid | web.Response:
        try:
            return parse_cid(request.match_info["cid"])
        except InvalidCidError as exc:
            return error(400, exc.reason)

    async def upload(request: web.Request) -> web.StreamResponse:
        # Logos Storage checks in this order: blockSize, body, mimetype, filename, lengths,
        # advertise (logos-storage.md §1.2 notes).
        block_size = DEFAULT_BLOCK_SIZE
        if storage and request.query.get("blockSize"):
            raw = request.query["blockSize"]
            if not raw.isascii() or not raw.isdigit() or int(raw) >= 1 << 64:
                return error(400, INVALID_BLOCK_SIZE)
            block_size = int(raw)
            if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE or block_size & (block_size - 1):
                return error(400, BAD_BLOCK_SIZE)
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if storage and not chunked and not request.content_length:
            return error(500, NO_BODY)
        content_type = request.headers.get("Content-Type", "")
        mimetype = None
        if content_type:
            if not content_type_parses(content_type):
                return error(415)
            if not is_valid_upload_mimetype(content_type):
                if legacy:
                    return error(422, "The MIME type is not valid.")
                return error(422, f"The MIME type '{content_type}' is not valid.")
            mimetype = content_type
        filename = filename_from_content_disposition(request.headers.get("Content-Disposition"))
        if filename is not None and not is_valid_filename(filename):
            return error(422, "The filename is not valid.")
        advertise = True
        if storage:
            if filename is not None and len(filename.encode()) > MAX_FILENAME:
                return error(422, f"Filename exceeds maximum size of {MAX_FILENAME} bytes")
            if mimetype is not None and len(mimetype.encode()) > MAX_MIMETYPE:
                return error(422, f"Mimetype exceeds maximum size of {MAX_MIMETYPE} bytes")
            if "advertise" in request.query:
                try:
                    advertise = parse_bool(request.query["advertise"])
                except ValueError as exc:
                    return error(400, str(exc))
        if not chunked and not request.content_length:
            return error(500, "" if legacy else NO_BODY)
        try:
            manifest = await engine.upload(
                request.content.iter_any(),
                filename,
                mimetype,
                block_size=block_size,
                coder=coder,
                uploaded_at=int(node.clock.now()) if legacy else None,
            )
        except StoreError as exc:
            return error(500, str(exc))
        except InvalidInputError as exc:  # "Empty leaves"
            return error(500, str(exc))
        except ConnectionError as exc:
            # The client went away mid-body; the upload was rolled back. (The real node
            # answers 500 with an empty body, which nobody reads here either.)
            log.info("upload aborted by the client: %s", exc)
            return error(500)
        log.info("stored %s (%d bytes)", manifest.cid, manifest.dataset_size)
        if storage:
            advertised[manifest.cid] = advertise
        return text(manifest.cid.text)

    async def list_data(request: web.Request) -> web.StreamResponse:
        return json_response({"content": [data_item(m.cid, m) for m in store.manifests()]})

    async def stream(request: web.Request, manifest: Manifest, network: bool) -> web.StreamResponse:
        pieces = engine.iter_dataset(manifest)
        async with contextlib.aclosing(pieces):
            try:
                first = await anext(pieces)
            except (BackendError, InvalidInputError) as exc:
                return error(500, str(exc))
            disposition = "attachment"
            if manifest.filename:
                disposition = f'attachment; filename="{manifest.filename}"'
            response = web.StreamResponse(
                headers={
                    "Content-Type": manifest.mimetype or "application/octet-stream",
                    "Content-Disposition": disposition,
                }
            )
            if network:
                response.headers["Access-Control-Expose-Headers"] = "Content-Disposition"
            if legacy:
                response.enable_chunked_encoding()  # that build sent no Content-Length
            else:
                response.content_length = manifest.dataset_size
            await response.prepare(request)
            await response.write(first)
            try:
                async for piece in pieces:
                    await response.write(piece)
            except (BackendError, InvalidInputError) as exc:
                # Too late for a status: drop the connection, as the real node does.
                log.warning("stream of %s failed part-way: %s", manifest.cid, exc)
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write_eof()
            return response

    async def download_local(request: web.Request) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        if not store.has(cid):
            return error(404, "" if legacy else NOT_IN_LOCAL_STORE)
        manifest = store.get_manifest(cid) if cid.is_manifest else None
        if manifest is None:
            return error(404, INVALID_MANIFEST_CODEC)
        return await stream(request, manifest, network=False)

    async def download_network(request: web.Request) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        if (bad := storage_query_error(request)) is not None:
            return bad
        manifest = None
        if cid.is_manifest:
            try:
                manifest = await engine.fetch_manifest(cid)
            except BlockNotFoundError as exc:
                if node.network_miss_wait > 0:
                    return await network_miss(cid, exc, 404)
                manifest = None
            except BackendError as exc:  # e.g. a peer's manifest that does not decode
                return error(500, str(exc))
        if manifest is None:
            # As node.retrieve: not a (findable) manifest → try the CID as a single block,
            # which waits for the retry budget again when nobody has it.
            try:
                await engine.get_block(cid)
            except (BackendError, InvalidInputError) as exc:
                return await network_miss(cid, exc, 500)
            manifest = store.get_manifest(cid)
            if manifest is None:
                return error(404, INVALID_MANIFEST_CODEC)
        return await stream(request, manifest, network=True)

    async def network_manifest(request: web.Request, *, fetch_dataset: bool) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        if (bad := storage_query_error(request)) is not None:
            return bad
        try:
            manifest = await engine.fetch_manifest(cid)
        except BackendError as exc:  # wrong codec, retries exhausted, undecodable manifest
            return await network_miss(cid, exc, 404)
        item = data_item(cid, manifest)
        if fetch_dataset:
            if storage:
                item["downloadId"] = downloads.start(manifest).id
            else:
                engine.fetch_in_background(manifest)
        return json_response(item)

    def download_route(
        answer: Callable[[BackgroundDownload | None], web.StreamResponse],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A route of one background download, by dataset CID (checked first) and download
        ID: 400 for a malformed one, else `answer` with the download (None: there is none)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            cid = cid_param(request)
            if isinstance(cid, web.Response):
                return cid
            raw = request.match_info["downloadId"]
            if not raw.isascii() or not raw.isdigit() or int(raw) >= 1 << 64:
                return error(400, "Invalid download ID")
            return answer(downloads.find(int(raw), cid))

        return handler

    def progress(download: BackgroundDownload | None) -> web.StreamResponse:
        if download is None:
            return json_response({"active": False})
        return json_response(
            {
                "active": True,
                "received": download.received,
                "total": download.total,
                "bytes": download.bytes,
            }
        )

    def cancel(download: BackgroundDownload | None) -> web.StreamResponse:
        if download is None:
            return error(404, "Background download not found")
        downloads.cancel(download)
        return web.Response(status=204)

    download_progress = download_route(progress)
    cancel_download = download_route(cancel)

    def manifest_cid_param(request: web.Request) -> Cid | web.Response:
        cid = cid_param(request)
        if isinstance(cid, web.Response) or cid.is_manifest:
            return cid
        return error(400, "CID is not a manifest")

    async def get_advertise(request: web.Request) -> web.StreamResponse:
        cid = manifest_cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        if store.get_manifest(cid) is None:
            return error(404, "Dataset not found")
        return json_response({"cid": cid.text, "advertise": advertised.get(cid, True)})

    async def set_advertise(request: web.Request) -> web.StreamResponse:
        cid = manifest_cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        try:
            value = parse_bool(request.query.get("advertise", ""))
        except ValueError as exc:
            return error(400, str(exc))
        if store.get_manifest(cid) is None:
            return error(404, f"Block not found: {cid}")
        advertised[cid] = value
        return json_response({"cid": cid.text, "advertise": value})

    async def fetch_network(request: web.Request) -> web.StreamResponse:
        return await network_manifest(request, fetch_dataset=True)

    async def get_network_manifest(request: web.Request) -> web.StreamResponse:
        return await network_manifest(request, fetch_dataset=False)

    async def exists(request: web.Request) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        # The real node answers hasLocalBlock(cid): for a dataset CID, the manifest block.
        return json_response({cid.text: store.has(cid)})

    async def delete(request: web.Request) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        try:
            engine.delete(cid)
        except OSError as exc:
            return error(500, str(exc))
        return web.Response(status=204)

    async def space(request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "totalBlocks": store.total_blocks,
                "quotaMaxBytes": store.quota_bytes,
                "quotaUsedBytes": store.used_bytes,
                "quotaReservedBytes": 0,
            }
        )

    async def peerid(request: web.Request) -> web.StreamResponse:
        if wants_text(request):
            return text(node.peer_id)
        return json_response({"id": node.peer_id})

    async def spr(request: web.Request) -> web.StreamResponse:
        if not node.spr:
            if storage:
                return error(500)
            return web.Response(status=503, headers={"Content-Type": "application/json"})
        if wants_text(request):
            return text(node.spr)
        return json_response({"spr": node.spr})

    async def connect(request: web.Request) -> web.StreamResponse:
        peer_id = request.match_info["peerId"]
        try:
            parse_peer_id(peer_id)
        except InvalidPeerIdError as exc:
            return error(400, str(exc))
        addrs = request.query.getall("addrs", [])
        for addr in addrs:
            try:
                parse_tcp_multiaddr(addr)
            except InvalidInputError as exc:
                return error(400, str(exc))
        if not addrs:
            known = node.network.peers.get(peer_id)
            if known is None or not known.addrs:
                return error(400, "Unable to find Peer!")
            addrs = list(known.addrs)
        try:
            await node.network.dial(peer_id, addrs)
        except DialError as exc:
            log.info("connect failed: %s", exc)
            return error(400, "Unable to dial peer")
        return text("Successfully connected to peer")

    def table_node(peer_id: str, record: str, addrs: tuple[str, ...], seen: bool) -> dict[str, Any]:
        node_id = ""
        with contextlib.suppress(InvalidInputError):
            key = peer_id_public_key(parse_peer_id(peer_id))
            node_id = node_id_for(key) if key else ""
        address = None
        for addr in addrs:
            with contextlib.suppress(InvalidInputError):
                host, port = parse_tcp_multiaddr(addr)
                address = f"{host}:{port}"
                break
        return {
            "nodeId": node_id,
            "peerId": peer_id,
            "record": record,
            "address": address,
            "seen": seen,
        }

    def storage_node(peer_id: str, addrs: tuple[str, ...]) -> dict[str, Any]:
        return {"peerId": peer_id, "addresses": list(addrs), "lastSeen": None}

    async def storage_debug_info(request: web.Request) -> web.StreamResponse:
        addrs = tuple(node.listen_addrs)
        peers = list(node.network.peers.values())
        info = {
            "id": node.peer_id,
            "addrs": list(addrs),
            "spr": node.spr,
            "libp2pPubKey": node.identity.public_key.hex(),
            "mixPubKey": None,
            "table": {
                "localNode": storage_node(node.peer_id, addrs),
                "nodes": [storage_node(p.peer_id, p.addrs) for p in peers],
            },
            "storage": STORAGE_VERSION,
            "nat": {
                "reachability": "Unknown",
                "clientMode": False,
                "relayRunning": False,
                "portMapping": False,
            },
            "connections": [{"peerId": p.peer_id, "direct": True} for p in peers if p.connected],
        }
        return json_response(info, pretty=True)

    async def debug_info(request: web.Request) -> web.StreamResponse:
        addrs = tuple(node.listen_addrs)
        info = {
            "id": node.peer_id,
            "addrs": list(addrs),
            "repo": str(node.data_dir),
            "spr": node.spr,
            "announceAddresses": list(addrs),
            "table": {
                "localNode": table_node(node.peer_id, node.spr, addrs, True),
                "nodes": [
                    table_node(p.peer_id, p.spr, p.addrs, p.connected)
                    for p in node.network.peers.values()
                ],
            },
            "codex": VERSION,
        }
        return json_response(info, pretty=True)

    async def log_level(request: web.Request) -> web.StreamResponse:
        level = request.query.get("level")
        if not level:
            return error(400, "Missing log level")
        first = level.split(";")[0].strip().upper()
        if first not in LOG_LEVELS:
            return error(
                500, "Please specify one of: trace, debug, info, notice, warn, error or fatal"
            )
        logging.getLogger("archive_service_codex_node").setLevel(_PY_LEVELS.get(first, 100))
        return text("")

    async def marketplace(request: web.Request) -> web.StreamResponse:
        return error(503, PERSISTENCE_DISABLED)

    r = app.router
    p = API_PREFIXES[node.api]
    r.add_post(p + "/data", upload)
    r.add_get(p + "/data", list_data, allow_head=False)
    r.add_get(p + "/data/{cid}", download_local, allow_head=False)
    if not legacy:
        r.add_delete(p + "/data/{cid}", delete)
    r.add_post(p + "/data/{cid}/network", fetch_network)
    r.add_get(p + "/data/{cid}/network/stream", download_network, allow_head=False)
    r.add_get(p + "/data/{cid}/network/manifest", get_network_manifest, allow_head=False)
    if not legacy:
        r.add_get(p + "/data/{cid}/exists", exists, allow_head=False)
    r.add_get(p + "/space", space, allow_head=False)
    r.add_get(p + "/peerid", peerid, allow_head=False)
    r.add_get(p + "/spr", spr, allow_head=False)
    r.add_get(p + "/connect/{peerId}", connect, allow_head=False)
    r.add_get(p + "/debug/info", storage_debug_info if storage else debug_info, allow_head=False)
    r.add_post(p + "/debug/chronicles/loglevel", log_level)
    if storage:
        r.add_delete(p + "/data/{cid}/network/{downloadId}", cancel_download)
        r.add_get(
            p + "/data/{cid}/network/progress/{downloadId}", download_progress, allow_head=False
        )
        r.add_get(p + "/data/{cid}/advertise", get_advertise, allow_head=False)
        r.add_post(p + "/data/{cid}/advertise", set_advertise)
        return  # no marketplace in Logos Storage: its routes are unknown (404)
    for method, path in (
        ("GET", "/sales/availability"),
        ("POST", "/sales/availability"),
        ("PATCH", "/sales/availability/{id}"),
        ("GET", "/sales/availability/{id}/reservations"),
        ("GET", "/sales/slots"),
        ("GET", "/sales/slots/{slotId}"),
        ("POST", "/storage/request/{cid}"),
        ("GET", "/storage/purchases"),
        ("GET", "/storage/purchases/{id}"),
    ):
        r.add_route(method, p + path, marketplace)
