"""Both REST generations (Codex `/api/codex/v1`, Logos Storage `/api/storage/v1`) and the three
manifest coders: the upstream vectors, the client's probe and operations against the simulator
in each generation, the pre-v0.2.0 build measured in issue 13, and the network-miss wait."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from archive_service_codex.cid import (
    InvalidManifestError,
    ManifestCoder,
    build_manifest,
    compute_manifest,
    decode_manifest,
)
from archive_service_codex.client import (
    ApiGeneration,
    ClientTimeouts,
    CodexBadRequest,
    CodexClient,
    CodexConflict,
    CodexNotFound,
    CodexNotSupported,
    CodexRejected,
    CodexServerError,
    CodexTimeout,
    CodexUnavailable,
    Manifest,
    node_root,
)
from archive_service_codex.codex_manifest_pb2 import StorageManifest, StorageManifestEnvelope
from archive_service_codex.verify import CodexIntegrityError, genuine_coder
from archive_service_codex_node import LocalCodexNode

from archive_service import varint

HELLO = b"Hello World!"
HELLO_TREE = "zDzSvJTf8JYwvysKPmG7BtzpbiAHfuwFMRphxm4hdvnMJ4XPJjKX"
# logos-storage.md §2.6: go-bindings upload_test.go (Codex coder @609030c/@49672a6, January-2026
# coder @6d70390 … v0.3.2).
HELLO_CODEX = "zDvZRwzmAkhzDRPH5EW242gJBNZ2T7aoH2v1fVH66FxXL4kSbvyM"
HELLO_INTERIM = "zDvZRwzm93r6pbHvCDtfXiLiLF96cXTiX5rkv1fWMLGfV1NJX8cr"
# The latest coder's CID of the same upload, computed from §2.3/§2.4 (the reference holds the
# upstream constant of go-bindings @9826e826 back; this pins what the recipe gives).
HELLO_STORAGE = "zDvZRwzmAvGXfZyfdvz1FMD89V4yDXLCPW8NcfQk3wSN55Z3AfYd"
SOME_TREE = "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL"


class HeldClock:
    """now() is wall time; a sleep of `hold_from` seconds or more never returns until the test
    releases it, shorter ones return at once. Every wait is recorded."""

    def __init__(self, hold_from: float = 0.0) -> None:
        self.hold_from = hold_from
        self.release = asyncio.Event()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds >= self.hold_from:
            await self.release.wait()


# vectors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("coder", "cid"),
    [
        (ManifestCoder.CODEX, HELLO_CODEX),
        (ManifestCoder.INTERIM, HELLO_INTERIM),
        (ManifestCoder.STORAGE, HELLO_STORAGE),
    ],
)
def test_hello_world_vector_of_each_coder(coder: ManifestCoder, cid: str) -> None:
    m = compute_manifest(HELLO, "hello.txt", "text/plain", coder=coder)
    assert (m.cid.text, m.tree_cid.text) == (cid, HELLO_TREE)
    back = decode_manifest(m.encoded, m.cid)
    if coder is not ManifestCoder.INTERIM:  # its field 7 reads as Codex's erasure info
        assert (back.coder, back.filename, back.mimetype) == (coder, "hello.txt", "text/plain")


def test_coders_agree_without_metadata_except_the_latest() -> None:
    codex, interim, storage = (
        compute_manifest(b"some file contents", coder=c).cid for c in ManifestCoder
    )
    assert codex == interim != storage
    assert compute_manifest(b"some file contents").tree_cid.text == SOME_TREE


def test_latest_coder_wire_layout() -> None:
    """logos-storage.md §2.3: envelope 0a38, manifestVersion 0800, tree 1226 01839a031220…,
    blockSize 18808004, datasetSize 2012, codec 28829a03, hcodec 3012, version 3802."""
    m = compute_manifest(b"some file contents", coder=ManifestCoder.STORAGE)
    root = m.tree_cid.digest.hex()
    expected = "0a380800122601839a031220" + root + "18808004201228829a0330123802"
    assert m.encoded.hex() == expected and len(m.encoded) == 58
    assert m.to_json() == {
        "manifestVersion": 0,
        "treeCid": SOME_TREE,
        "blockSize": 65536,
        "datasetSize": 18,
        "filename": None,
        "mimetype": None,
    }


def test_latest_coder_refuses_another_manifest_version() -> None:
    inner = StorageManifest(manifest_version=1, tree_cid=b"x")
    data = StorageManifestEnvelope(manifest=inner.SerializeToString()).SerializeToString()
    with pytest.raises(InvalidManifestError, match="Unsupported manifest version: 1"):
        decode_manifest(data)


def test_uploaded_at_field_changes_the_cid_and_is_recognised() -> None:
    plain = compute_manifest(b"some file contents")
    timed = build_manifest(plain.tree_cid, 18, uploaded_at=1_764_400_000)
    # The same header with field 10 (varint, tag 0x50) appended.
    assert timed.cid != plain.cid
    assert timed.encoded[2:] == plain.encoded[2:] + b"\x50" + varint.encode(1_764_400_000)
    assert decode_manifest(timed.encoded).uploaded_at == 1_764_400_000
    assert timed.to_json()["uploadedAt"] == 1_764_400_000


def test_node_root_strips_either_prefix() -> None:
    assert node_root("http://h:1/api/codex/v1/") == "http://h:1"
    assert node_root("http://h:1/api/storage/v1") == "http://h:1"
    assert node_root("http://h:1") == "http://h:1"


# the client against each generation -----------------------------------------------------------
@pytest.fixture(params=["codex-v1", "storage-v1"])
async def node(request, codex_node_factory) -> LocalCodexNode:
    return await codex_node_factory(f"gen-{request.param}", api=request.param)


async def test_auto_probes_once_and_uploads_with_the_generations_coder(
    node: LocalCodexNode,
) -> None:
    root = node_root(node.api_url)
    async with CodexClient(root, api="auto") as c:
        assert await c.generation() is node.api
        cid = await c.upload(HELLO, filename="hello.txt", mimetype="text/plain")
        coder = (
            ManifestCoder.STORAGE if node.api is ApiGeneration.STORAGE_V1 else ManifestCoder.CODEX
        )
        assert cid == compute_manifest(HELLO, "hello.txt", "text/plain", coder=coder).cid.text
        item = await c.manifest(cid)
        assert genuine_coder(cid, item.manifest) is coder
        assert (item.manifest.manifest_version == 0) == (node.api is ApiGeneration.STORAGE_V1)
        assert await c.exists(cid)
        assert await c.download_bytes(cid) == HELLO
        info = await c.debug_info()
        assert info.generation is node.api and info.id == node.peer_id
        space = await c.space()
        assert space.total_blocks >= 2
        await c.delete(cid)
        assert not await c.exists(cid)


async def test_a_codex_prefixed_url_still_finds_a_storage_node(codex_node_factory) -> None:
    node = await codex_node_factory("s", api="storage-v1")
    async with CodexClient(node_root(node.api_url) + "/api/codex/v1", api="auto") as c:
        assert await c.generation() is ApiGeneration.STORAGE_V1


async def test_block_size_and_advertise(codex_node_factory) -> None:
    storage = await codex_node_factory("s", api="storage-v1")
    codex = await codex_node_factory("c")
    data = os.urandom(10_000)
    async with CodexClient(storage.api_url) as s, CodexClient(codex.api_url) as c:
        cid = await s.upload(data, block_size=4096, advertise=False)
        expected = compute_manifest(
            data, "archive-data.bin", "application/octet-stream", 4096, ManifestCoder.STORAGE
        )
        assert cid == expected.cid.text
        assert (await s.manifest(cid)).manifest.block_size == 4096
        for bad, body in [
            (4097, "blockSize must be a power of two between 4096 and 524288 bytes"),
            (2048, "blockSize must be a power of two between 4096 and 524288 bytes"),
            (1 << 20, "blockSize must be a power of two between 4096 and 524288 bytes"),
        ]:
            with pytest.raises(CodexBadRequest) as err:
                await s.upload(data, block_size=bad)
            assert err.value.body == body
        with pytest.raises(CodexNotSupported):
            await c.upload(data, block_size=4096)
        with pytest.raises(CodexNotSupported):
            await c.upload(data, advertise=False)


async def test_background_download_progress_and_cancel(codex_node_factory) -> None:
    """B holds the manifest, nobody has the blocks: the download stays active (its retry wait
    is held) until cancelled."""
    a = await codex_node_factory("a", api="storage-v1")
    clock = HeldClock()
    b = await codex_node_factory("b", api="storage-v1", bootstrap=[a.spr], clock=clock)
    data = os.urandom(3 * 65536)
    async with CodexClient(a.api_url) as ca, CodexClient(b.api_url) as cb:
        cid = await ca.upload(data)
        manifest = (await ca.manifest(cid)).manifest
        a.store.delete_tree(compute_manifest(data).tree_cid)  # a keeps only the manifest
        item = await cb.fetch(cid)
        assert item.download_id is not None and item.manifest == manifest
        again = await cb.fetch(cid)
        assert again.download_id == item.download_id  # one download per tree
        progress = await cb.download_progress(cid, item.download_id)
        assert progress.active and progress.total == 3 and progress.received == 0
        await cb.cancel_download(cid, item.download_id)
        assert not (await cb.download_progress(cid, item.download_id)).active
        with pytest.raises(CodexNotFound) as err:
            await cb.cancel_download(cid, item.download_id)
        assert err.value.body == "Background download not found"
        # The caller gives up: the node's download is cancelled with it.
        with pytest.raises(RuntimeError):
            async with cb.background_download(cid) as running:
                assert b.downloads.find(running.download_id, b.store.manifests()[0].cid)
                raise RuntimeError("caller gave up")
        assert not (await cb.download_progress(cid, running.download_id)).active
    clock.release.set()


async def test_codex_generation_has_no_download_id_progress_or_cancel(codex_node) -> None:
    async with CodexClient(codex_node.api_url) as c:
        cid = await c.upload(HELLO)
        item = await c.fetch(cid)
        assert item.download_id is None
        with pytest.raises(CodexNotSupported):
            await c.download_progress(cid, 1)
        with pytest.raises(CodexNotSupported):
            await c.cancel_download(cid, 1)


# the pre-v0.2.0 build of issue 13 ---------------------------------------------------------------
async def test_legacy_build_answers_are_typed(codex_node_factory) -> None:
    node = await codex_node_factory("legacy", legacy_build=True)
    data = os.urandom(70_000)
    async with CodexClient(node.api_url) as c:
        cid = await c.upload(data)
        assert (
            cid != compute_manifest(data, "archive-data.bin", "application/octet-stream").cid.text
        )
        item = await c.manifest(cid)
        assert item.manifest.uploaded_at is not None
        assert genuine_coder(cid, item.manifest) is ManifestCoder.CODEX
        # No /exists route: a local lookup instead, never "not found".
        assert await c.exists(cid)
        unknown = compute_manifest(os.urandom(100)).cid.text
        assert not await c.exists(unknown)
        with pytest.raises(CodexNotSupported, match="does not support delete"):
            await c.delete(cid)
        # An unknown CID is still "not found" (empty body on this build), not "unsupported".
        with pytest.raises(CodexNotFound):
            await c.download_bytes(unknown)
        # No Content-Length: the cap holds while streaming.
        async with c.open_download(cid) as download:
            assert download.size is None
        with pytest.raises(Exception, match="exceeds the cap"):
            await c.download_bytes(cid, max_size=1000)
        with pytest.raises(CodexRejected) as err:
            await c.upload(data, mimetype="no/such-type")
        assert err.value.body == "The MIME type is not valid."
        with pytest.raises(CodexServerError) as err5:  # an upload with no body
            await c._call("upload", "POST", "/data")
        assert (err5.value.status, err5.value.body) == (500, "")


@pytest.mark.parametrize("coder", list(ManifestCoder))
def test_each_coder_is_told_apart_by_the_served_manifest(coder: ManifestCoder) -> None:
    """A node on any coder (the January-2026 one included) is verified, and its coder named,
    from the manifest JSON it serves."""
    m = compute_manifest(HELLO, "hello.txt", "text/plain", coder=coder)
    served = Manifest(m.tree_cid.text, 12, 65536, "hello.txt", "text/plain", False)
    assert genuine_coder(m.cid.text, served) is coder


def test_a_manifest_lying_about_a_field_is_refused() -> None:
    m = compute_manifest(HELLO, "hello.txt", "text/plain", coder=ManifestCoder.STORAGE)
    honest = Manifest(m.tree_cid.text, 12, 65536, "hello.txt", "text/plain", False)
    assert genuine_coder(m.cid.text, honest) is ManifestCoder.STORAGE
    for lie in [
        Manifest(m.tree_cid.text, 13, 65536, "hello.txt", "text/plain", False),
        Manifest(m.tree_cid.text, 12, 4096, "hello.txt", "text/plain", False),
        Manifest(m.tree_cid.text, 12, 65536, "other.txt", "text/plain", False),
        Manifest(m.tree_cid.text, 12, 65536, "hello.txt", None, False),
        Manifest(SOME_TREE, 12, 65536, "hello.txt", "text/plain", False),
    ]:
        with pytest.raises(CodexIntegrityError):
            genuine_coder(m.cid.text, lie)


# the network-miss wait -----------------------------------------------------------------------
async def test_a_held_network_miss_is_bounded_by_the_client(codex_node_factory) -> None:
    clock = HeldClock(hold_from=600)
    node = await codex_node_factory("slow", network_miss_wait=600, clock=clock)
    unknown = compute_manifest(os.urandom(100)).cid.text
    async with CodexClient(node.api_url, timeouts=ClientTimeouts(network=0.5)) as c:
        with pytest.raises(CodexTimeout):
            await c.manifest(unknown)
    assert 600 in clock.sleeps
    clock.release.set()


async def test_a_network_miss_held_to_its_end_is_not_found(codex_node_factory) -> None:
    clock = HeldClock(hold_from=float("inf"))
    node = await codex_node_factory("slow", network_miss_wait=600, clock=clock)
    unknown = compute_manifest(os.urandom(100)).cid.text
    async with CodexClient(node.api_url) as c:
        with pytest.raises(CodexNotFound) as err:
            await c.manifest(unknown)
    assert err.value.body == "Timeout exceeded!" and 600 in clock.sleeps


# abandoned requests (a real build crashed 10 minutes after one) --------------------------------
def open_connections(client: CodexClient) -> int:
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    return sum(1 for conn in pool.connections if not conn.is_idle())


async def test_a_cancelled_call_leaves_no_request_open(codex_node_factory) -> None:
    clock = HeldClock(hold_from=600)
    node = await codex_node_factory("slow", network_miss_wait=600, clock=clock)
    unknown = compute_manifest(os.urandom(100)).cid.text
    async with CodexClient(node.api_url) as c:
        held = asyncio.Event()
        original = clock.sleep

        async def sleep(seconds: float) -> None:
            if seconds >= 600:
                held.set()
            await original(seconds)

        clock.sleep = sleep  # type: ignore[method-assign]
        task = asyncio.create_task(c.manifest(unknown))
        await held.wait()  # the node holds the request
        assert open_connections(c) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert open_connections(c) == 0
        # Cancelled mid-body: the download's response is closed too.
        cid = await c.upload(os.urandom(5 * 65536))
        async with c.open_download(cid) as download:
            async for _ in download.chunks():
                break
        assert open_connections(c) == 0
    clock.release.set()


# statuses and bodies of both generations → typed errors ------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "optional", "kind"),
    [
        (400, "Incorrect Cid", False, CodexBadRequest),
        (400, "Invalid blockSize parameter", False, CodexBadRequest),
        (400, "Invalid download ID", True, CodexBadRequest),
        (404, "", True, CodexNotSupported),  # a route this node does not have
        (404, "", False, CodexNotFound),  # an unknown CID on a build before v0.2.1
        (404, "Background download not found", True, CodexNotFound),
        (404, "Timeout exceeded!", False, CodexNotFound),
        (409, "Download already failed", False, CodexConflict),
        (422, "Filename exceeds maximum size of 255 bytes", False, CodexRejected),
        (500, "Error retries exhausted", False, CodexNotFound),
        (500, "", False, CodexServerError),  # e.g. Logos Storage's /debug/info failure
        (503, "", False, CodexUnavailable),
    ],
)
def test_each_answer_maps_to_a_typed_error(
    status: int, body: str, optional: bool, kind: type[Exception]
) -> None:
    client = CodexClient("http://127.0.0.1:1/api/storage/v1")
    error = client._error("op", status, body, optional)
    assert type(error) is kind and error.status == status and error.body == body


async def test_connect_spr_and_peer_id_on_logos_storage(codex_node_factory) -> None:
    a = await codex_node_factory("a", api="storage-v1")
    b = await codex_node_factory("b", api="storage-v1")
    async with CodexClient(b.api_url) as cb:
        assert await cb.peer_id() == b.peer_id and await cb.spr() == b.spr
        await cb.connect(a.peer_id, a.listen_addrs)
        assert a.peer_id in b.network.peers
