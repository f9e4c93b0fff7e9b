"""Checking fetched bytes against their CID (verify.py): equivalence with the CID recipe, and
every way a node or peer can lie — other bytes, a doctored manifest, a wrong size — is caught
before anything is parsed or kept. The end-to-end case runs a member through a real HTTP proxy
that corrupts what node B streams (a fault no honest node produces on demand)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from archive_service_codex.backend import CodexBackend
from archive_service_codex.cid import compute_manifest
from archive_service_codex.client import CodexSizeLimitError, Manifest
from archive_service_codex.settings import CodexSettings
from archive_service_codex.verify import (
    CidVerifier,
    CodexIntegrityError,
    LeafHasher,
    upload_cid,
)
from archive_service_codex_node import LocalCodexNode
from hypothesis import given, settings
from hypothesis import strategies as st
from local_http import serve

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import HistoryArchiveDownloadFailed
from archive_service.interface import BackendContext
from archive_service.store import Store
from archive_service.types import ArchiveMetadata, BuiltArchive

COMMUNITY = bytes.fromhex("02" + "c4" * 32)
WEEK = 7 * 24 * 3600
T0 = 1_699_833_600


def manifest_of(data: bytes, filename: str | None, mimetype: str | None) -> tuple[str, Manifest]:
    m = compute_manifest(data, filename, mimetype)
    return m.cid.text, Manifest(
        tree_cid=m.tree_cid.text,
        dataset_size=m.dataset_size,
        block_size=m.block_size,
        filename=m.filename,
        mimetype=m.mimetype,
        protected=False,
    )


def verify(cid: str, manifest: Manifest, data: bytes, *, split: int = 65536) -> None:
    v = CidVerifier(cid, manifest, max_size=1 << 30)
    for i in range(0, len(data), split):
        v.update(data[i : i + split])
    v.check()


# the recipe ----------------------------------------------------------------------------------
def test_upload_cid_matches_the_vectors() -> None:
    assert upload_cid(b"x" * 100) == "zDvZRwzmBmdp9B6qpGsDxudhEWmEgFaHcg8jLeqeucnaTeKM5KYH"
    h = LeafHasher()
    h.update(b"some file contents")
    cid, tree = h.manifest_cid(None, None)
    assert cid.text == "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy"
    assert tree.text == "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL"


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 5 * 65536 + 3),
    split=st.integers(1, 3 * 65536),
    block=st.sampled_from([4096, 65536]),
)
def test_leaf_hasher_equals_the_recipe_for_any_chunking(size: int, split: int, block: int) -> None:
    data = os.urandom(size)
    h = LeafHasher(block)
    for i in range(0, size, split):
        h.update(data[i : i + split])
    expected = compute_manifest(data, "f.bin", "text/plain", block_size=block)
    assert h.manifest_cid("f.bin", "text/plain") == (expected.cid, expected.tree_cid)


# lies ----------------------------------------------------------------------------------------
def test_honest_bytes_pass_in_any_chunking() -> None:
    data = os.urandom(3 * 65536 + 17)
    cid, manifest = manifest_of(data, "archive-data.bin", "application/octet-stream")
    for split in (1000, 65536, 100_000):
        verify(cid, manifest, data, split=split)


def test_other_bytes_are_caught() -> None:
    data = bytearray(os.urandom(2 * 65536))
    cid, manifest = manifest_of(bytes(data), "archive-data.bin", "application/octet-stream")
    data[70_000] ^= 1
    with pytest.raises(CodexIntegrityError, match="hash to"):
        verify(cid, manifest, bytes(data))


@pytest.mark.parametrize(
    "lie",
    [
        {"filename": None},
        {"mimetype": "text/plain"},
        {"block_size": 4096},
    ],
    ids=["filename", "mimetype", "block-size"],
)
def test_a_doctored_manifest_is_caught(lie: dict[str, object]) -> None:
    data = os.urandom(100_000)
    cid, manifest = manifest_of(data, "archive-data.bin", "application/octet-stream")
    with pytest.raises(CodexIntegrityError):
        verify(cid, dataclasses.replace(manifest, **lie), data)


def test_size_mismatch_and_caps() -> None:
    data = os.urandom(100_000)
    cid, manifest = manifest_of(data, None, None)
    with pytest.raises(CodexIntegrityError, match="announced"):
        verify(cid, manifest, data[:-1])
    with pytest.raises(CodexSizeLimitError, match="cap"):
        CidVerifier(cid, manifest, max_size=99_999)
    with pytest.raises(CodexIntegrityError, match="erasure"):
        CidVerifier(cid, dataclasses.replace(manifest, protected=True), max_size=1 << 20)
    with pytest.raises(CodexIntegrityError, match="block size"):
        CidVerifier(cid, dataclasses.replace(manifest, block_size=1 << 30), max_size=1 << 20)
    with pytest.raises(CodexIntegrityError, match="not a Codex manifest CID"):
        CidVerifier(manifest.tree_cid, manifest, max_size=1 << 20)


# end to end: a corrupting node ----------------------------------------------------------------
@pytest.fixture
async def corrupting_proxy(
    codex_node_factory,
) -> AsyncIterator[tuple[LocalCodexNode, LocalCodexNode, str, set[str]]]:
    """Node A, node B, and a proxy in front of B that flips a byte in the streams of the CIDs
    put in the returned set."""
    node_a = await codex_node_factory("a")
    node_b = await codex_node_factory("b", bootstrap=[node_a.spr])
    corrupt: set[str] = set()
    http = httpx.AsyncClient(timeout=30, trust_env=False)
    base = node_b.api_url

    async def forward(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        upstream = await http.send(
            http.build_request(request.method, f"{base}/{tail}", content=await request.read()),
            stream=True,
        )
        response = web.StreamResponse(status=upstream.status_code)
        for key in ("Content-Type", "Content-Length", "Content-Disposition"):
            if key in upstream.headers:
                response.headers[key] = upstream.headers[key]
        await response.prepare(request)
        flip = tail.endswith("/network/stream") and tail.split("/")[1] in corrupt
        first = True
        async for chunk in upstream.aiter_raw():
            if flip and first:
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            first = False
            await response.write(chunk)
        await upstream.aclose()
        return response

    app = web.Application()
    app.router.add_route("*", "/api/codex/v1/{tail:.*}", forward)
    runner, url = await serve(app)
    yield node_a, node_b, url + "/api/codex/v1", corrupt
    await runner.cleanup()
    await http.aclose()


async def test_corrupted_archives_are_never_kept(corrupting_proxy, tmp_path) -> None:
    node_a, _node_b, proxy_url, corrupt = corrupting_proxy
    sides = []
    for name, url in (("owner", node_a.api_url), ("member", proxy_url)):
        store = Store(tmp_path / name / "db.sqlite")
        events: list[object] = []
        context = BackendContext(
            tmp_path / name / "codex", store, HashRatchet(store), events.append
        )
        backend = CodexBackend(context, CodexSettings(api_url=url))
        await backend.start()
        sides.append((backend, store, events))
    (owner, _, _), (member, member_store, events) = sides
    publication = await owner.open_publication(COMMUNITY, False)
    blobs = [os.urandom(150_000 + i) for i in range(3)]
    for i, blob in enumerate(blobs):
        meta = ArchiveMetadata(T0 + i * WEEK, T0 + (i + 1) * WEEK, (b"\x01\x02\x03\x04",))
        await publication.add(BuiltArchive(meta, blob, -1, False))
    result = await publication.commit()
    bad = upload_cid(blobs[1])
    corrupt.add(bad)

    info = await member.download_history_archives(COMMUNITY, result.link, asyncio.Event())

    entries = {e.locator["cid"]: e.archive_id for e in await owner.read_index(COMMUNITY)}
    assert info.failed_archive_ids == [entries[bad]] and info.total_downloaded == 2
    failures = [e for e in events if isinstance(e, HistoryArchiveDownloadFailed)]
    assert "CodexIntegrityError" in failures[0].reason
    assert not member.files.has_archive(COMMUNITY, entries[bad])
    assert not member_store.has_archive_id(COMMUNITY, entries[bad])

    corrupt.clear()  # an honest path again: the next run completes
    info = await member.download_history_archives(COMMUNITY, result.link, asyncio.Event())
    assert (info.total_downloaded, info.failed_archive_ids) == (3, [])
    for backend, store, _ in sides:
        await backend.stop()
        store.close()
