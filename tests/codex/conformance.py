"""REST expectations of a Codex / Logos Storage node, one per check, taken from the references
(codex.md §1, logos-storage.md §1-§2) and from what a real nim-codex build answered (issue 13).
`test_conformance.py` runs them against the simulator in each generation and against a real
node named by CODEX_TEST_NODE_URL; `RESULTS` collects the rows of the table printed at the end
of the run (tests/codex/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from archive_service_codex.cid import ManifestCoder, compute_manifest
from archive_service_codex.client import API_PREFIXES, ApiGeneration, Manifest
from archive_service_codex.verify import CodexIntegrityError, genuine_coder

HELLO = b"Hello World!"
HELLO_TREE = "zDzSvJTf8JYwvysKPmG7BtzpbiAHfuwFMRphxm4hdvnMJ4XPJjKX"
UNKNOWN_CID = compute_manifest(b"no node holds these bytes: conformance").cid.text
NOT_IN_LOCAL_STORE = "The requested CID could not be retrieved (Block not found in local store)."
BAD_BLOCK_SIZE = "blockSize must be a power of two between 4096 and 524288 bytes"


@dataclass
class Row:
    target: str
    generation: str
    check: str
    expected: str
    observed: str
    ok: bool


RESULTS: list[Row] = []


@dataclass
class Node:
    """A node under test: its root URL and generation."""

    root: str
    generation: ApiGeneration
    http: httpx.AsyncClient

    @property
    def prefix(self) -> str:
        return self.root + API_PREFIXES[self.generation]

    @property
    def storage(self) -> bool:
        return self.generation is ApiGeneration.STORAGE_V1

    @property
    def coder(self) -> ManifestCoder:
        return ManifestCoder.STORAGE if self.storage else ManifestCoder.CODEX

    async def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return await self.http.request(method, self.prefix + path, **kwargs)  # type: ignore[arg-type]

    async def upload(self, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.request("POST", "/data", content=data, headers=headers or {})


@dataclass
class Outcome:
    ok: bool
    expected: str
    observed: str


def seen(response: httpx.Response) -> str:
    body = response.text
    if len(body) > 120:
        body = body[:120] + "…"
    return f"{response.status_code} {body!r}"


def answer(response: httpx.Response, *allowed: tuple[int, str], expected: str = "") -> Outcome:
    """The response is one of the allowed (status, exact body) pairs."""
    got = (response.status_code, response.text)
    want = expected or " or ".join(f"{s} {b!r}" for s, b in allowed)
    return Outcome(got in allowed, want, seen(response))


def manifest_of(obj: dict[str, object]) -> Manifest:
    m = obj["manifest"]
    assert isinstance(m, dict)
    return Manifest(
        tree_cid=m["treeCid"],
        dataset_size=m["datasetSize"],
        block_size=m["blockSize"],
        filename=m.get("filename"),
        mimetype=m.get("mimetype"),
        protected=bool(m.get("protected", False)),
        manifest_version=m.get("manifestVersion"),
        uploaded_at=m.get("uploadedAt"),
    )


async def cid_check(
    node: Node, data: bytes, headers: dict[str, str], fn: str | None, mt: str | None
) -> Outcome:
    response = await node.upload(data, headers)
    predicted = compute_manifest(data, fn, mt, coder=node.coder).cid.text
    expected = f"200 text/plain {predicted} (or a build with uploadedAt: its manifest hashes to it)"
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
        "text/plain"
    ):
        return Outcome(False, expected, seen(response))
    cid = response.text
    if cid == predicted:
        return Outcome(True, expected, f"200 {cid}")
    item = await node.request("GET", f"/data/{cid}/network/manifest")
    try:
        manifest = manifest_of(item.json())
        if manifest.uploaded_at is None:
            raise CodexIntegrityError("no uploadedAt")
        genuine_coder(cid, manifest)
    except (CodexIntegrityError, ValueError, KeyError, AssertionError) as exc:
        return Outcome(False, expected, f"200 {cid} ({exc})")
    return Outcome(True, expected, f"200 {cid} (uploadedAt {manifest.uploaded_at})")


# the checks ----------------------------------------------------------------------------------
Check = Callable[[Node], Awaitable[Outcome]]
CHECKS: dict[str, tuple[str, Check]] = {}  # name -> (generations: "both" | gen, check)


def check(name: str, generations: str = "both") -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = (generations, fn)
        return fn

    return register


@check("upload CID, no filename/mimetype")
async def _upload_plain(node: Node) -> Outcome:
    return await cid_check(node, b"some file contents", {}, None, None)


@check("upload CID, filename + mimetype")
async def _upload_meta(node: Node) -> Outcome:
    headers = {"Content-Type": "text/plain", "Content-Disposition": 'filename="hello.txt"'}
    return await cid_check(node, HELLO, headers, "hello.txt", "text/plain")


@check("manifest JSON shape")
async def _manifest_shape(node: Node) -> Outcome:
    headers = {"Content-Type": "text/plain", "Content-Disposition": 'filename="hello.txt"'}
    cid = (await node.upload(HELLO, headers)).text
    response = await node.request("GET", f"/data/{cid}/network/manifest")
    if node.storage:
        keys = ["manifestVersion", "treeCid", "blockSize", "datasetSize", "filename", "mimetype"]
    else:
        keys = ["treeCid", "datasetSize", "blockSize", "filename", "mimetype", "protected"]
    expected = f"200 application/json {{cid, manifest: {', '.join(keys)}}} treeCid {HELLO_TREE}"
    try:
        obj = response.json()
        m = obj["manifest"]
        ok = (
            response.status_code == 200
            and response.headers.get("content-type") == "application/json"
            and obj["cid"] == cid
            and all(k in m for k in keys)
            and ("protected" in m) != node.storage
            and m["treeCid"] == HELLO_TREE
            and (m["datasetSize"], m["blockSize"]) == (12, 65536)
            and (m["filename"], m["mimetype"]) == ("hello.txt", "text/plain")
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    return Outcome(ok, expected, seen(response))


@check("local download headers")
async def _download(node: Node) -> Outcome:
    headers = {"Content-Type": "text/plain", "Content-Disposition": 'filename="hello.txt"'}
    cid = (await node.upload(HELLO, headers)).text
    response = await node.request("GET", f"/data/{cid}")
    h = response.headers
    got = (
        response.status_code,
        response.content,
        h.get("content-type"),
        h.get("content-disposition"),
        h.get("content-length"),
    )
    ok = got[:4] == (200, HELLO, "text/plain", 'attachment; filename="hello.txt"') and got[4] in (
        "12",
        None,  # builds before v0.2.1 stream without Content-Length
    )
    expected = '200 body, Content-Type text/plain, attachment; filename="hello.txt", Length 12'
    return Outcome(ok, expected, f"{got[0]} {got[2]} {got[3]} length={got[4]}")


@check("bad CID")
async def _bad_cid(node: Node) -> Outcome:
    return answer(await node.request("GET", "/data/invalid-cid"), (400, "Incorrect Cid"))


@check("unknown CID, local")
async def _unknown_local(node: Node) -> Outcome:
    response = await node.request("GET", f"/data/{UNKNOWN_CID}")
    return answer(response, (404, NOT_IN_LOCAL_STORE), (404, ""))  # "": builds before v0.2.1


@check("exists")
async def _exists(node: Node) -> Outcome:
    cid = (await node.upload(HELLO)).text
    response = await node.request("GET", f"/data/{cid}/exists")
    if response.status_code == 404 and not response.text and not node.storage:
        return Outcome(True, f'200 {{"{cid[:12]}…":true}} or 404 "" (no route)', seen(response))
    return answer(response, (200, json.dumps({cid: True}, separators=(",", ":"))))


@check("delete unknown CID")
async def _delete(node: Node) -> Outcome:
    response = await node.request("DELETE", f"/data/{UNKNOWN_CID}")
    if node.storage:
        return answer(response, (204, ""))
    return answer(response, (204, ""), (404, ""))  # 404 "": a build without the route


@check("empty upload")
async def _empty_upload(node: Node) -> Outcome:
    response = await node.upload(b"")
    return answer(response, (500, "Request do not have body available"), (500, ""))


@check("invalid mimetype")
async def _bad_mimetype(node: Node) -> Outcome:
    response = await node.upload(HELLO, {"Content-Type": "no/such-type"})
    allowed = [(422, "The MIME type 'no/such-type' is not valid.")]
    if not node.storage:
        allowed.append((422, "The MIME type is not valid."))  # builds before v0.2.x
    return answer(response, *allowed)


@check("invalid filename")
async def _bad_filename(node: Node) -> Outcome:
    response = await node.upload(HELLO, {"Content-Disposition": 'filename="a:b"'})
    return answer(response, (422, "The filename is not valid."))


@check("space JSON")
async def _space(node: Node) -> Outcome:
    response = await node.request("GET", "/space")
    keys = ("totalBlocks", "quotaMaxBytes", "quotaUsedBytes", "quotaReservedBytes")
    try:
        obj = response.json()
        ok = response.status_code == 200 and all(isinstance(obj[k], int) for k in keys)
    except (ValueError, KeyError):
        ok = False
    return Outcome(ok, "200 {" + ", ".join(keys) + "}", seen(response))


@check("debug/info JSON")
async def _debug_info(node: Node) -> Outcome:
    response = await node.request("GET", "/debug/info")
    key = "storage" if node.storage else "codex"
    try:
        obj = response.json()
        ok = response.status_code == 200 and key in obj and isinstance(obj["id"], str)
        ok = ok and isinstance(obj["addrs"], list) and "spr" in obj
    except (ValueError, KeyError):
        ok = False
    return Outcome(ok, f"200 {{id, addrs, spr, {key}: {{version, revision}}}}", seen(response))


@check("peerid by Accept")
async def _peerid(node: Node) -> Outcome:
    as_json = await node.request("GET", "/peerid", headers={"Accept": "application/json"})
    as_text = await node.request("GET", "/peerid", headers={"Accept": "text/plain"})
    try:
        ok = as_json.json()["id"] == as_text.text and as_text.status_code == 200
    except (ValueError, KeyError):
        ok = False
    return Outcome(ok, '200 {"id": …} / 200 text/plain id', f"{seen(as_json)} / {seen(as_text)}")


@check("unknown route and HEAD")
async def _unknown_route(node: Node) -> Outcome:
    nope = await node.request("GET", "/no-such-route")
    head = await node.request("HEAD", "/space")
    ok = (nope.status_code, nope.text, head.status_code) == (404, "", 404)
    return Outcome(ok, '404 "" / HEAD 404', f"{seen(nope)} / HEAD {head.status_code}")


@check("marketplace without persistence", ApiGeneration.CODEX_V1)
async def _marketplace(node: Node) -> Outcome:
    response = await node.request("GET", "/sales/slots")
    return answer(response, (503, "Persistence is not enabled"))


@check("blockSize validation", ApiGeneration.STORAGE_V1)
async def _block_size(node: Node) -> Outcome:
    odd = await node.request("POST", "/data", params={"blockSize": "4097"}, content=HELLO)
    text = await node.request("POST", "/data", params={"blockSize": "abc"}, content=HELLO)
    good = await node.request("POST", "/data", params={"blockSize": "4096"}, content=HELLO)
    predicted = compute_manifest(HELLO, block_size=4096, coder=ManifestCoder.STORAGE).cid.text
    got = (odd.status_code, odd.text, text.status_code, text.text, good.status_code, good.text)
    want = (400, BAD_BLOCK_SIZE, 400, "Invalid blockSize parameter", 200, predicted)
    return Outcome(
        got == want,
        f"4097 → 400 {BAD_BLOCK_SIZE!r}; abc → 400 'Invalid blockSize parameter'; 4096 → 200",
        f"{seen(odd)}; {seen(text)}; {seen(good)}",
    )


@check("background download id, progress, cancel", ApiGeneration.STORAGE_V1)
async def _background(node: Node) -> Outcome:
    cid = (await node.upload(HELLO)).text
    start = await node.request("POST", f"/data/{cid}/network")
    unknown = await node.request("GET", f"/data/{cid}/network/progress/999999")
    cancel = await node.request("DELETE", f"/data/{cid}/network/999999")
    bad = await node.request("GET", f"/data/{cid}/network/progress/x")
    try:
        ok = start.status_code == 200 and isinstance(start.json()["downloadId"], int)
    except (ValueError, KeyError):
        ok = False
    ok = ok and (unknown.status_code, unknown.text) == (200, '{"active":false}')
    ok = ok and (cancel.status_code, cancel.text) == (404, "Background download not found")
    ok = ok and (bad.status_code, bad.text) == (400, "Invalid download ID")
    return Outcome(
        ok,
        "200 DataItem+downloadId; progress of unknown id 200 {active:false}; cancel 404 "
        "'Background download not found'; id 'x' 400 'Invalid download ID'",
        f"{seen(start)}; {seen(unknown)}; {seen(cancel)}; {seen(bad)}",
    )


@check("advertise state", ApiGeneration.STORAGE_V1)
async def _advertise(node: Node) -> Outcome:
    cid = (await node.request("POST", "/data", params={"advertise": "false"}, content=HELLO)).text
    response = await node.request("GET", f"/data/{cid}/advertise")
    bad = await node.request("POST", "/data", params={"advertise": "maybe"}, content=HELLO)
    want = json.dumps({"cid": cid, "advertise": False}, separators=(",", ":"))
    ok = (response.status_code, response.text) == (200, want)
    ok = ok and (bad.status_code, bad.text) == (400, "cannot interpret as a bool: maybe")
    return Outcome(ok, f"200 {want}; advertise=maybe → 400", f"{seen(response)}; {seen(bad)}")


def applies(generations: str, generation: ApiGeneration) -> bool:
    return generations == "both" or generations == generation


def table(rows: list[Row]) -> str:
    """Markdown, ready to paste into a bug report."""
    lines = [
        "| target | API | check | expected | observed | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r.target, r.generation, r.check, r.expected, r.observed, "ok" if r.ok else "FAIL"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
