"""The Codex REST API (`/api/codex/v1`) as nim-codex v0.2.x answers it (reference/codex.md §1):
statuses, bare-text error bodies with `Content-Type: text/html`, `text/plain` strings, compact
JSON (pretty only for `/debug/info`), no HEAD routes, unknown paths and methods → 404."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from archive_service_codex.cid import Cid, InvalidCidError, Manifest, parse_cid

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
    from archive_service_codex_node.server import LocalCodexNode

log = logging.getLogger(__name__)

API_PREFIX = "/api/codex/v1"
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

    def cid_param(request: web.Request) -> Cid | web.Response:
        try:
            return parse_cid(request.match_info["cid"])
        except InvalidCidError as exc:
            return error(400, exc.reason)

    async def upload(request: web.Request) -> web.StreamResponse:
        content_type = request.headers.get("Content-Type", "")
        mimetype = None
        if content_type:
            if not content_type_parses(content_type):
                return error(415)
            if not is_valid_upload_mimetype(content_type):
                return error(422, f"The MIME type '{content_type}' is not valid.")
            mimetype = content_type
        filename = filename_from_content_disposition(request.headers.get("Content-Disposition"))
        if filename is not None and not is_valid_filename(filename):
            return error(422, "The filename is not valid.")
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if not chunked and not request.content_length:
            return error(500, NO_BODY)
        try:
            manifest = await engine.upload(request.content.iter_any(), filename, mimetype)
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
            return error(404, NOT_IN_LOCAL_STORE)
        manifest = store.get_manifest(cid) if cid.is_manifest else None
        if manifest is None:
            return error(404, INVALID_MANIFEST_CODEC)
        return await stream(request, manifest, network=False)

    async def download_network(request: web.Request) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        manifest = None
        if cid.is_manifest:
            try:
                manifest = await engine.fetch_manifest(cid)
            except BlockNotFoundError:
                manifest = None
            except BackendError as exc:  # e.g. a peer's manifest that does not decode
                return error(500, str(exc))
        if manifest is None:
            # As node.retrieve: not a (findable) manifest → try the CID as a single block,
            # which waits for the retry budget again when nobody has it.
            try:
                await engine.get_block(cid)
            except (BackendError, InvalidInputError) as exc:
                return error(500, str(exc))
            manifest = store.get_manifest(cid)
            if manifest is None:
                return error(404, INVALID_MANIFEST_CODEC)
        return await stream(request, manifest, network=True)

    async def network_manifest(request: web.Request, *, fetch_dataset: bool) -> web.StreamResponse:
        cid = cid_param(request)
        if isinstance(cid, web.Response):
            return cid
        try:
            manifest = await engine.fetch_manifest(cid)
        except BackendError as exc:  # wrong codec, retries exhausted, undecodable manifest
            return error(404, str(exc))
        if fetch_dataset:
            engine.fetch_in_background(manifest)
        return json_response(data_item(cid, manifest))

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
    p = API_PREFIX
    r.add_post(p + "/data", upload)
    r.add_get(p + "/data", list_data, allow_head=False)
    r.add_get(p + "/data/{cid}", download_local, allow_head=False)
    r.add_delete(p + "/data/{cid}", delete)
    r.add_post(p + "/data/{cid}/network", fetch_network)
    r.add_get(p + "/data/{cid}/network/stream", download_network, allow_head=False)
    r.add_get(p + "/data/{cid}/network/manifest", get_network_manifest, allow_head=False)
    r.add_get(p + "/data/{cid}/exists", exists, allow_head=False)
    r.add_get(p + "/space", space, allow_head=False)
    r.add_get(p + "/peerid", peerid, allow_head=False)
    r.add_get(p + "/spr", spr, allow_head=False)
    r.add_get(p + "/connect/{peerId}", connect, allow_head=False)
    r.add_get(p + "/debug/info", debug_info, allow_head=False)
    r.add_post(p + "/debug/chronicles/loglevel", log_level)
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
