"""CodexClient against a Codex node: the bundled local node always, a real node opt-in.

Real node, opt-in: set ``CODEX_TEST_NODE_URL`` to the REST base URL of a running
nim-codex v0.2.x node, e.g.

    export CODEX_TEST_NODE_URL=http://127.0.0.1:8080/api/codex/v1
    .venv/bin/python -m pytest tests/codex

and every test here also runs against it (uploads are small and deleted afterwards). Without
the variable the "real" variants skip with that reason. The statuses, bodies and CIDs asserted
are the real node's (reference/codex.md §1–2), so both variants must pass unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from archive_service_codex.backend import local_cid
from archive_service_codex.cid import compute_manifest
from archive_service_codex.client import (
    ClientTimeouts,
    CodexBadRequest,
    CodexClient,
    CodexNotFound,
    CodexNotReady,
    CodexNotSupported,
    CodexRejected,
    CodexSizeLimitError,
    CodexTimeout,
)

REAL_NODE_ENV = "CODEX_TEST_NODE_URL"
SOME = b"some file contents"


@pytest.fixture(params=["local", "real"])
def api_url(request: pytest.FixtureRequest) -> str:
    if request.param == "real":
        url = os.environ.get(REAL_NODE_ENV)
        if not url:
            pytest.skip(
                f"{REAL_NODE_ENV} is not set (a real Codex node's REST URL to test against)"
            )
        return url
    return request.getfixturevalue("codex_node").api_url


@pytest.fixture
async def client(api_url: str) -> AsyncIterator[CodexClient]:
    # A short network budget: on a real node an unknown CID would be searched for ~an hour.
    async with CodexClient(api_url, timeouts=ClientTimeouts(network=3.0)) as c:
        yield c


@pytest.fixture
async def stored(client: CodexClient) -> AsyncIterator[list[str]]:
    """CIDs a test uploaded; deleted at teardown so a real node is left as it was."""
    cids: list[str] = []
    yield cids
    for cid in cids:
        with contextlib.suppress(CodexNotSupported):  # a build without DELETE keeps them
            await client.delete(cid)


def unknown_cid() -> str:
    """A well-formed manifest CID that no node holds."""
    return local_cid(os.urandom(64))


# upload ---------------------------------------------------------------------------------------
async def test_upload_gives_status_go_s_cid(client: CodexClient, stored: list[str]) -> None:
    cid = await client.upload(b"x" * 100)
    stored.append(cid)
    assert cid == "zDvZRwzmBmdp9B6qpGsDxudhEWmEgFaHcg8jLeqeucnaTeKM5KYH"  # codex.md §2.6


async def test_upload_without_headers_gives_the_upstream_vector(
    client: CodexClient, stored: list[str]
) -> None:
    cid = await client.upload(SOME, filename=None, mimetype=None)
    stored.append(cid)
    assert cid == "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy"


async def test_bytes_file_and_stream_uploads_agree(
    client: CodexClient, stored: list[str], tmp_path: Path
) -> None:
    data = os.urandom(3 * 65536 + 1234)
    path = tmp_path / "data"
    path.write_bytes(data)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 50_000):
            yield data[i : i + 50_000]

    from_bytes = await client.upload(data)
    stored.append(from_bytes)
    assert from_bytes == local_cid(data)
    assert await client.upload(path) == from_bytes
    assert await client.upload(chunks(), size=None) == from_bytes  # chunked body


async def test_upload_rejections_carry_the_node_s_text(client: CodexClient) -> None:
    with pytest.raises(CodexRejected) as err:
        await client.upload(SOME, mimetype="text/plain; charset=utf-8")
    assert err.value.status == 422
    assert "The MIME type 'text/plain; charset=utf-8' is not valid." in str(err.value)
    with pytest.raises(CodexRejected) as err:
        await client.upload(SOME, filename="exam*ple.txt")
    assert err.value.body == "The filename is not valid."
    with pytest.raises(CodexRejected, match="empty"):
        await client.upload(b"")


# download -------------------------------------------------------------------------------------
async def test_local_download_streams_the_exact_bytes(
    client: CodexClient, stored: list[str], tmp_path: Path
) -> None:
    data = os.urandom(2 * 65536 + 7)
    cid = await client.upload(data)
    stored.append(cid)
    async with client.open_download(cid) as download:
        assert download.size == len(data)
        assert download.content_type == "application/octet-stream"
        assert download.content_disposition == 'attachment; filename="archive-data.bin"'
        body = b"".join([chunk async for chunk in download.chunks()])
    assert body == data
    dest = tmp_path / "out" / "file"
    assert await client.download_file(cid, dest) == len(data)
    assert dest.read_bytes() == data
    assert await client.download_bytes(cid, network=True) == data  # served locally too


async def test_size_cap_refuses_before_reading(
    client: CodexClient, stored: list[str], tmp_path: Path
) -> None:
    data = os.urandom(5 * 65536)
    cid = await client.upload(data)
    stored.append(cid)
    dest = tmp_path / "out" / "capped"
    with pytest.raises(CodexSizeLimitError, match="nothing was read"):
        await client.download_file(cid, dest, max_size=len(data) - 1)
    assert os.listdir(tmp_path / "out") == []  # no file, no temp file
    assert await client.download_bytes(cid, max_size=len(data)) == data


async def test_unknown_cid_locally_is_not_found(client: CodexClient) -> None:
    with pytest.raises(CodexNotFound) as err:
        await client.download_bytes(unknown_cid())
    assert err.value.status == 404
    assert "Block not found in local store" in err.value.body


async def test_unknown_cid_on_the_network_is_a_bounded_wait(client: CodexClient) -> None:
    # Bounded: the node gives up (404), or the client's 3 s network budget does, not retried.
    bounded = (CodexNotFound, CodexTimeout)
    for call in (client.manifest, client.fetch):
        with pytest.raises(bounded) as err:
            await call(unknown_cid())
        assert isinstance(err.value, CodexNotFound) or "within 3 s" in str(err.value)
    with pytest.raises(bounded) as err:
        await client.download_bytes(unknown_cid(), network=True)
    assert isinstance(err.value, CodexNotFound) or "within 3 s" in str(err.value)


@pytest.mark.parametrize("bad", ["garbage", "zzzz", "Qm1234"])
async def test_bad_cids_are_typed_400s(client: CodexClient, bad: str) -> None:
    for call in (client.exists, client.download_bytes, client.delete, client.manifest):
        with pytest.raises(CodexBadRequest) as err:
            await call(bad)
        assert err.value.status == 400
        assert err.value.body in {"Incorrect Cid", "Unsupported Cid", "Error parsing Cid"}


# manifest / fetch / exists / delete ----------------------------------------------------------
async def test_manifest_and_fetch_describe_the_dataset(
    client: CodexClient, stored: list[str]
) -> None:
    data = os.urandom(70_000)
    cid = await client.upload(data)
    stored.append(cid)
    expected = compute_manifest(data, "archive-data.bin", "application/octet-stream")
    for item in (await client.manifest(cid), await client.fetch(cid)):
        assert item.cid == cid
        m = item.manifest
        assert m.tree_cid == expected.tree_cid.text
        assert (m.dataset_size, m.block_size, m.protected) == (70_000, 65536, False)
        assert (m.filename, m.mimetype) == ("archive-data.bin", "application/octet-stream")
    assert cid in {item.cid for item in await client.datasets()}


async def test_exists_reads_the_cid_key_and_delete_is_idempotent(
    client: CodexClient, stored: list[str]
) -> None:
    cid = await client.upload(os.urandom(1000))
    assert await client.exists(cid) is True
    await client.delete(cid)
    assert await client.exists(cid) is False
    await client.delete(cid)  # 204 for absent data too
    assert await client.exists(unknown_cid()) is False


async def test_space_accounts_padded_blocks(client: CodexClient, stored: list[str]) -> None:
    before = await client.space()
    cid = await client.upload(os.urandom(65536 + 1))  # two blocks, the second padded
    stored.append(cid)
    after = await client.space()
    assert after.quota_used_bytes - before.quota_used_bytes >= 2 * 65536
    assert after.total_blocks - before.total_blocks == 3  # 2 blocks + the manifest
    assert after.quota_max_bytes > 0 and after.quota_reserved_bytes >= 0


# node -----------------------------------------------------------------------------------------
async def test_identity_endpoints(client: CodexClient) -> None:
    info = await client.debug_info()
    assert info.id.startswith("16Uiu2")
    assert await client.peer_id() == info.id
    assert isinstance(info.addrs, list)
    try:
        spr = await client.spr()
    except CodexNotReady:
        return  # a real node without discovery yet: typed, as it should be
    assert spr.startswith("spr:")


async def test_connect_to_a_bad_peer_is_a_typed_400(client: CodexClient) -> None:
    with pytest.raises(CodexBadRequest) as err:
        await client.connect("not-a-peer-id", ["/ip4/127.0.0.1/tcp/1"])
    assert err.value.status == 400


async def test_concurrent_calls_share_one_client(client: CodexClient, stored: list[str]) -> None:
    blobs = [os.urandom(10_000 + i) for i in range(12)]
    cids = await asyncio.gather(*(client.upload(b) for b in blobs))
    stored.extend(cids)
    bodies = await asyncio.gather(*(client.download_bytes(c) for c in cids))
    assert bodies == blobs
