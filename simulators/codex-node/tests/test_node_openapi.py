"""The local node's responses validated against nim-codex's openapi.yaml (in-repo copy), except
the documented mismatches of reference/codex.md §3.4, where the real node's behaviour is
asserted instead."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from archive_service_codex.cid import compute_manifest
from archive_service_codex_node import LocalCodexNode
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.response.exceptions import InvalidData
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_SERVER = "http://localhost:8080"  # openapi.yaml's server; the path carries /api/codex/v1


class OpenAPIRequest:
    """httpx.Request seen through openapi-core's Request protocol."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    host_url = SPEC_SERVER

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return None  # uploads are streamed; only responses are validated here

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "").lower()


class OpenAPIResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.items()))

    @property
    def data(self) -> bytes:
        return self._response.content


REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    path = REPO_ROOT / "backends" / "codex" / "openapi.yaml"
    return OpenAPI.from_file_path(str(path))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def validate(spec: OpenAPI, response: httpx.Response) -> None:
    spec.validate_response(OpenAPIRequest(response.request), OpenAPIResponse(response))


def test_the_in_repo_copy_is_the_reference_file(openapi_path: Path) -> None:
    outside = REPO_ROOT / ".." / "shared" / "codex" / "openapi.yaml"
    if not outside.exists():
        pytest.skip("../shared/codex/openapi.yaml is not present next to the repository")
    assert openapi_path.read_bytes() == outside.read_bytes()


async def test_success_responses_match_the_spec(
    spec: OpenAPI, codex_cluster, http: httpx.AsyncClient
) -> None:
    a, b = await codex_cluster(2)
    base = a.api_url
    data = os.urandom(70_000)
    up = await http.post(
        base + "/data",
        content=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'filename="x.bin"',
        },
    )
    validate(spec, up)
    cid = up.text
    checked = [
        await http.get(base + "/data"),
        await http.get(f"{base}/data/{cid}"),
        await http.get(f"{b.api_url}/data/{cid}/network/manifest"),
        await http.post(f"{b.api_url}/data/{cid}/network"),
        await http.get(f"{b.api_url}/data/{cid}/network/stream"),
        await http.get(base + "/space"),
        await http.get(base + "/peerid"),
        await http.get(base + "/peerid", headers={"Accept": "text/plain"}),
        await http.get(base + "/spr"),
        await http.get(base + "/spr", headers={"Accept": "text/plain"}),
        await http.get(base + "/debug/info"),
        await http.post(base + "/debug/chronicles/loglevel", params={"level": "INFO"}),
        await http.get(f"{b.api_url}/connect/{a.peer_id}", params={"addrs": a.listen_addrs}),
        await http.delete(f"{base}/data/{cid}"),
    ]
    for response in checked:
        assert response.status_code in (200, 204), (response.request.url, response.text)
        validate(spec, response)


async def test_error_statuses_are_documented_ones(
    spec: OpenAPI, codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    unknown = compute_manifest(b"unknown").cid.text
    checked = [
        (
            await http.post(base + "/data", content=b"x", headers={"Content-Type": "hello/world"}),
            422,
        ),
        (await http.post(base + "/data", content=b""), 500),
        (await http.get(base + "/data/garbage"), 400),
        (await http.get(f"{base}/data/{unknown}"), 404),
        (await http.delete(base + "/data/garbage"), 400),
        (await http.post(f"{base}/data/{unknown}/network"), 404),
        (await http.get(f"{base}/data/{unknown}/network/manifest"), 404),
        (await http.get(f"{base}/data/{unknown}/network/stream"), 500),
        (await http.get(base + "/data/garbage/exists"), 400),
        (await http.get(base + "/connect/garbage"), 400),
        (await http.post(base + "/debug/chronicles/loglevel"), 400),
        (await http.get(base + "/sales/slots"), 503),
        (await http.get(base + "/storage/purchases"), 503),
    ]
    for response, status in checked:
        assert response.status_code == status, (response.request.url, response.text)
        # The spec gives these statuses no body; the real node sends bare text as text/html.
        assert response.headers["content-type"] == "text/html"
        validate(spec, response)


async def test_documented_mismatches_follow_the_real_node(
    spec: OpenAPI, codex_node: LocalCodexNode, http: httpx.AsyncClient
) -> None:
    base = codex_node.api_url
    cid = (await http.post(base + "/data", content=b"abc")).text
    # exists: the spec says {"has": bool}; the node answers {"<cid>": bool}.
    r = await http.get(f"{base}/data/{cid}/exists")
    assert r.json() == {cid: True}
    assert "has" not in r.json()
    # Upload: any bytes, no Content-Type needed (the spec documents application/octet-stream).
    assert (await http.post(base + "/data", content=b"abc")).status_code == 200
    # ManifestItem: no "verifiable" key for plain uploads; filename/mimetype null when unset.
    manifest = (await http.get(base + "/data")).json()["content"][0]["manifest"]
    assert "verifiable" not in manifest
    assert manifest["filename"] is None and manifest["mimetype"] is None
    # GET /data: the spec lists 400/404/422; the node has no such case (always 200).
    assert (await http.get(base + "/data", params={"cid": "garbage"})).status_code == 200


def test_the_validator_does_reject_off_spec_responses(spec: OpenAPI) -> None:
    """Guard against a vacuous validator: a wrong /space shape and an undocumented status fail."""
    request = httpx.Request("GET", "http://127.0.0.1:1/api/codex/v1/space")
    bad_shape = httpx.Response(
        200,
        headers={"Content-Type": "application/json"},
        content=b'{"totalBlocks":"2","quotaMaxBytes":1,"quotaUsedBytes":1,"quotaReservedBytes":0}',
        request=request,
    )
    with pytest.raises(InvalidData, match="is not of type 'integer'"):
        validate(spec, bad_shape)
    teapot = httpx.Response(418, content=b"", request=request)
    with pytest.raises(ResponseNotFound):
        validate(spec, teapot)
