"""The local node's REST API, endpoint by endpoint, against reference/codex.md §1."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest
from archive_service_codex.cid import compute_manifest
from archive_service_codex_node import LocalCodexNode
from archive_service_codex_node.testing import blocks_reach

SOME = b"some file contents"
SOME_CID = "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy"
SOME_BLOCK = "zDxWB8ED98hxJ51XwYaoQAwMdskCcmTaPR6Ce2wq88bjvjXRYuR9"  # its one block
ARCHIVE_HEADERS = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": 'filename="archive-data.bin"',
}
UNKNOWN = compute_manifest(b"nobody uploaded this").cid.text


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def assert_error(r: httpx.Response, status: int, body: str) -> None:
    assert r.status_code == status, r.text
    assert r.text == body
    assert r.headers["content-type"] == "text/html"


# --- upload --------------------------------------------------------------------------------------


async def test_upload_vector_without_headers(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    r = await http.post(codex_node.api_url + "/data", content=SOME)
    assert r.status_code == 200
    assert r.text == SOME_CID  # no newline
    assert r.headers["content-type"] == "text/plain"


async def test_upload_with_status_go_headers_gives_derived_vector(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    r = await http.post(codex_node.api_url + "/data", content=b"x" * 100, headers=ARCHIVE_HEADERS)
    assert r.text == "zDvZRwzmBmdp9B6qpGsDxudhEWmEgFaHcg8jLeqeucnaTeKM5KYH"


async def test_chunked_upload_equals_sized_upload(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    data = os.urandom(200_000)

    async def chunks():
        for i in range(0, len(data), 10_000):
            yield data[i : i + 10_000]

    r = await http.post(codex_node.api_url + "/data", content=chunks())
    assert r.status_code == 200
    assert r.text == compute_manifest(data).cid.text


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 200),
        ("TEXT/PLAIN", 200),
        ("application/octet-stream", 200),
        ("text/plain; charset=utf-8", 422),
        ("hello/world", 422),
        ("multipart/form-data; boundary=x", 422),
    ],
)
async def test_upload_mimetype_validation(
    codex_node: LocalCodexNode, http: httpx.AsyncClient, content_type: str, status: int
) -> None:
    r = await http.post(
        codex_node.api_url + "/data", content=SOME, headers={"Content-Type": content_type}
    )
    assert r.status_code == status
    if status == 422:
        assert_error(r, 422, f"The MIME type '{content_type}' is not valid.")
    else:
        manifest = compute_manifest(SOME, mimetype=content_type)
        assert r.text == manifest.cid.text  # stored verbatim: the case changes the CID


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ('attachment; filename="example.txt"', "example.txt"),
        ('filename="archive-data.bin"', "archive-data.bin"),
        ("filename=foo.txt", None),
        ("attachment", None),
        # Nim only checks the name before the extension: this one is accepted as is.
        ('filename="a.txt"; x', 'a.txt"; '),
    ],
)
async def test_upload_filename_from_content_disposition(
    codex_node: LocalCodexNode, http: httpx.AsyncClient, disposition: str, filename: str | None
) -> None:
    r = await http.post(
        codex_node.api_url + "/data", content=SOME, headers={"Content-Disposition": disposition}
    )
    assert r.text == compute_manifest(SOME, filename=filename).cid.text


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="exam*ple.txt"',
        'filename=""',
        'filename="CON.txt"',
        'filename="a"b.txt"',
    ],
)
async def test_upload_invalid_filename(
    codex_node: LocalCodexNode, http: httpx.AsyncClient, disposition: str
) -> None:
    r = await http.post(
        codex_node.api_url + "/data", content=SOME, headers={"Content-Disposition": disposition}
    )
    assert_error(r, 422, "The filename is not valid.")


async def test_upload_without_body(codex_node: LocalCodexNode, http: httpx.AsyncClient) -> None:
    r = await http.post(codex_node.api_url + "/data", content=b"")
    assert_error(r, 500, "Request do not have body available")

    async def nothing():
        if False:
            yield b""

    r = await http.post(codex_node.api_url + "/data", content=nothing())
    assert_error(r, 500, "Empty leaves")
    space = (await http.get(codex_node.api_url + "/space")).json()
    assert space["totalBlocks"] == 0


# --- download, exists, delete --------------------------------------------------------------------


async def test_local_download_headers_and_body(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    data = os.urandom(3 * 65536 + 123)
    headers = {
        "Content-Type": "text/plain",
        "Content-Disposition": 'attachment; filename="example.txt"',
    }
    cid = (await http.post(codex_node.api_url + "/data", content=data, headers=headers)).text
    r = await http.get(f"{codex_node.api_url}/data/{cid}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["content-disposition"] == 'attachment; filename="example.txt"'
    assert r.headers["content-length"] == str(len(data))

    plain = (await http.post(codex_node.api_url + "/data", content=SOME)).text
    r = await http.get(f"{codex_node.api_url}/data/{plain}")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == "attachment"
    assert r.content == SOME


async def test_local_download_errors(codex_node: LocalCodexNode, http: httpx.AsyncClient) -> None:
    base = codex_node.api_url
    assert_error(await http.get(f"{base}/data/garbage"), 400, "Incorrect Cid")
    assert_error(
        await http.get(f"{base}/data/{UNKNOWN}"),
        404,
        "The requested CID could not be retrieved (Block not found in local store).",
    )
    await http.post(base + "/data", content=SOME)
    assert_error(
        await http.get(f"{base}/data/{SOME_BLOCK}"),
        404,
        "CID has invalid content type for manifest {$cid}",
    )


async def test_exists_answers_for_that_block(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    r = await http.get(f"{base}/data/{SOME_CID}/exists")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.text == '{"' + SOME_CID + '":false}'
    await http.post(base + "/data", content=SOME)
    assert (await http.get(f"{base}/data/{SOME_CID}/exists")).json() == {SOME_CID: True}
    tree = "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL"
    assert (await http.get(f"{base}/data/{tree}/exists")).json() == {tree: False}
    # Any accepted form is answered under the canonical z… key.
    bafy = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    (key,) = (await http.get(f"{base}/data/{bafy}/exists")).json()
    assert key.startswith("z")
    assert_error(await http.get(f"{base}/data/nope/exists"), 400, "Incorrect Cid")


async def test_delete_dataset_and_absent(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    cid = (await http.post(base + "/data", content=os.urandom(100_000))).text
    assert (await http.get(base + "/space")).json()["totalBlocks"] == 3
    r = await http.delete(f"{base}/data/{cid}")
    assert r.status_code == 204 and r.content == b""
    assert (await http.get(base + "/space")).json()["totalBlocks"] == 0
    assert (await http.get(f"{base}/data/{cid}/exists")).json() == {cid: False}
    assert (await http.delete(f"{base}/data/{cid}")).status_code == 204
    assert_error(await http.delete(f"{base}/data/garbage"), 400, "Incorrect Cid")


async def test_list(codex_node: LocalCodexNode, http: httpx.AsyncClient) -> None:
    base = codex_node.api_url
    assert (await http.get(base + "/data")).text == '{"content":[]}'
    await http.post(base + "/data", content=SOME)
    r = await http.get(base + "/data")
    assert r.headers["content-type"] == "application/json"
    assert r.text == (
        '{"content":[{"cid":"' + SOME_CID + '","manifest":{"treeCid":'
        '"zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL","datasetSize":18,'
        '"blockSize":65536,"filename":null,"mimetype":null,"protected":false}}]}'
    )


# --- node endpoints ------------------------------------------------------------------------------


async def test_peerid_and_spr_follow_accept(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    r = await http.get(base + "/peerid", headers={"Accept": "text/plain"})
    assert r.headers["content-type"] == "text/plain"
    assert r.text == codex_node.peer_id and r.text.startswith("16Uiu2")
    r = await http.get(base + "/peerid")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"id": codex_node.peer_id}
    r = await http.get(base + "/spr", headers={"Accept": "text/plain, application/json;q=0.5"})
    assert r.text == codex_node.spr and r.text.startswith("spr:")
    r = await http.get(base + "/spr", headers={"Accept": "application/json"})
    assert r.text == json.dumps({"spr": codex_node.spr}, separators=(",", ":"))


async def test_no_head_routes_and_unknown_paths(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    assert (await http.head(base + "/space")).status_code == 404
    assert (await http.head(f"{base}/data/{SOME_CID}")).status_code == 404
    assert (await http.get(base + "/nothing")).status_code == 404
    assert (await http.put(base + "/data")).status_code == 404


async def test_marketplace_needs_persistence(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    for method, path in [
        ("GET", "/sales/availability"),
        ("POST", "/sales/availability"),
        ("PATCH", "/sales/availability/0x01"),
        ("GET", "/sales/availability/0x01/reservations"),
        ("GET", "/sales/slots"),
        ("GET", "/sales/slots/abc"),
        ("POST", f"/storage/request/{SOME_CID}"),
        ("GET", "/storage/purchases"),
        ("GET", "/storage/purchases/0x01"),
    ]:
        assert_error(await http.request(method, base + path), 503, "Persistence is not enabled")


async def test_unparsable_content_type_is_415_with_empty_body(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        codex_node.api_url + "/data", content=SOME, headers={"Content-Type": "nonsense"}
    )
    assert r.status_code == 415
    assert r.content == b""


async def test_expect_100_continue_upload(codex_node: LocalCodexNode) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", codex_node.port)
    writer.write(
        b"POST /api/codex/v1/data HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    await writer.drain()
    assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    await reader.readline()
    writer.write(SOME)
    await writer.drain()
    answer = await reader.read(4096)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(SOME_CID.encode())


async def test_client_gone_mid_upload_leaves_nothing(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    four_stored = blocks_reach(codex_node, lambda n: n >= 4)
    _, writer = await asyncio.open_connection("127.0.0.1", codex_node.port)
    writer.write(b"POST /api/codex/v1/data HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
    writer.write(os.urandom(300_000))  # four whole blocks arrive, then the client is gone
    await writer.drain()
    await four_stored.wait()
    rolled_back = blocks_reach(codex_node, lambda n: n == 0)
    writer.close()
    await rolled_back.wait()
    assert (await http.get(codex_node.api_url + "/space")).json()["quotaUsedBytes"] == 0


async def test_debug_info_is_pretty_and_complete(codex_cluster, http: httpx.AsyncClient) -> None:
    a, b = await codex_cluster(2)
    r = await http.get(a.api_url + "/debug/info")
    assert r.headers["content-type"] == "application/json"
    info = r.json()
    assert r.text == json.dumps(info, indent=2, ensure_ascii=False)  # 2-space pretty print
    assert list(info) == ["id", "addrs", "repo", "spr", "announceAddresses", "table", "codex"]
    assert info["id"] == a.peer_id
    assert info["addrs"] == a.listen_addrs == [f"/ip4/127.0.0.1/tcp/{a.port}"]
    assert info["repo"] == str(a.data_dir)
    assert info["spr"] == a.spr
    assert info["table"]["localNode"]["peerId"] == a.peer_id
    assert info["table"]["localNode"]["address"] == f"127.0.0.1:{a.port}"
    (peer,) = info["table"]["nodes"]
    assert peer["peerId"] == b.peer_id and peer["record"] == b.spr and peer["seen"] is True
    assert len(peer["nodeId"]) == 64
    assert set(info["codex"]) == {"version", "revision", "contracts"}


async def test_log_level(codex_node: LocalCodexNode, http: httpx.AsyncClient) -> None:
    url = codex_node.api_url + "/debug/chronicles/loglevel"
    r = await http.post(url, params={"level": "DEBUG;TRACE:codex"})
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"", "text/plain")
    assert_error(await http.post(url), 400, "Missing log level")
    assert_error(
        await http.post(url, params={"level": "LOUD"}),
        500,
        "Please specify one of: trace, debug, info, notice, warn, error or fatal",
    )


async def test_delete_of_a_dataset_block_keeps_it(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    await http.post(base + "/data", content=SOME)
    assert (await http.delete(f"{base}/data/{SOME_BLOCK}")).status_code == 204
    # Still referenced by the dataset's tree: the download keeps working.
    assert (await http.get(f"{base}/data/{SOME_CID}")).content == SOME


async def test_concurrent_uploads_of_the_same_bytes(
    codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    data = os.urandom(10 * 65536)
    results = await asyncio.gather(
        *(http.post(codex_node.api_url + "/data", content=data) for _ in range(4))
    )
    assert {r.text for r in results} == {compute_manifest(data).cid.text}
    space = (await http.get(codex_node.api_url + "/space")).json()
    assert space["totalBlocks"] == 11
    assert (await http.get(f"{codex_node.api_url}/data/{results[0].text}")).content == data
