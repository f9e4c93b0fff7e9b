"""Codex transfer benchmark: each measurement against its floor, taken in the same run.

- CID: `compute_manifest` (the Codex CID recipe) vs `hashlib.sha256` over the same bytes.
- Upload: the owner's publication (local copy, CID, upload of every archive, then the index)
  vs a plain HTTP POST of the same archive bytes to the same node.
- Download + import: a member's `download_history_archives` through its node (fetching from
  the owner's node, CID checks, saved files, recorded IDs) with the import of each archive
  as it completes (`load_archive_messages` + `Store.save_waku_messages` into a fresh SQLite
  store), until the last one is imported, vs a plain HTTP GET of the same
  archives from the same node (`/network/stream`, same concurrency, bytes discarded). The
  member's node forgets the data (DELETE) before every timed run, so both pay the fetch from
  the owner's node.

Target (DESIGN.md): every ratio floor/ours ≥ 0.5. The nodes are the bundled local
Codex-compatible node, each in its own process on 127.0.0.1, as a real node would be.

    .venv/bin/python benchmarks/codex_transfer.py [--mib 96] [--archives 8] [--repeat 3]

Writes benchmarks/results/codex_transfer.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import transfer_common as common
from archive_service_codex.backend import CodexBackend, local_cid
from archive_service_codex.cid import compute_manifest
from archive_service_codex.client import UPLOAD_FILENAME, UPLOAD_MIMETYPE
from archive_service_codex.settings import CodexSettings
from archive_service_codex_node.process import NodeProcess

from archive_service.events import ArchiveEvent
from archive_service.store import Store

T = TypeVar("T")
COMMUNITY = bytes.fromhex("02" + "b3" * 32)
UPLOAD_HEADERS = {
    "Content-Type": UPLOAD_MIMETYPE,
    "Content-Disposition": f'filename="{UPLOAD_FILENAME}"',
}


def timed_sync(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def cpu_timed(fn: Callable[[], Awaitable[T]], cpu: list[float]) -> T:
    """`fn`'s result; the CPU seconds this process (every thread) spent on it go to `cpu`."""
    started = time.process_time()
    result = await fn()
    cpu.append(time.process_time() - started)
    return result


def make_backend(
    root: Path,
    name: str,
    api_url: str,
    emit: Callable[[ArchiveEvent], None] = lambda event: None,
) -> tuple[CodexBackend, Store]:
    store = Store(root / name / "db.sqlite")
    context = common.backend_context(root / name / "codex", store, emit)
    return CodexBackend(context, CodexSettings(api_url=api_url)), store


async def start_node_pair(root: Path, prefix: str = "") -> tuple[NodeProcess, NodeProcess]:
    """An owner's and a member's node process under `root`, the member bootstrapped from the
    owner, both searching briefly for a missing block."""
    node_args = ["--block-retries", "50", "--retry-interval", "0.05"]
    owner_node = NodeProcess(root / f"{prefix}node-owner", args=node_args)
    await owner_node.astart()
    member_node = NodeProcess(
        root / f"{prefix}node-member", args=[*node_args, "--bootstrap-node", owner_node.spr]
    )
    await member_node.astart()
    return owner_node, member_node


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()  # other work on the machine skews every ratio
    root = Path(tempfile.mkdtemp(prefix="codex-bench-"))
    owner_node, member_node = await start_node_pair(root)
    http = httpx.AsyncClient(timeout=600, trust_env=False)
    try:
        messages, archives = common.synthetic_history(args.mib, args.archives)
        blob = b"".join(a.data for a in archives)
        total = len(blob)
        print(f"{len(archives)} archives, {total / common.MiB:.1f} MiB, {len(messages)} messages")

        # CID recipe vs SHA-256 -----------------------------------------------------------
        cid_s = timed_sync(lambda: local_cid(blob), args.repeat)
        recipe_s = timed_sync(
            lambda: compute_manifest(blob, UPLOAD_FILENAME, UPLOAD_MIMETYPE), args.repeat
        )
        sha_s = timed_sync(lambda: hashlib.sha256(blob).digest(), args.repeat)

        # upload: publication vs plain POSTs of the same bytes -------------------------------
        cids = [local_cid(a.data) for a in archives]

        async def plain_upload() -> list[str]:
            sem = asyncio.Semaphore(CodexSettings().upload_concurrency)

            async def one(data: bytes) -> str:
                async with sem:
                    r = await http.post(
                        f"{owner_node.api_url}/data", content=data, headers=UPLOAD_HEADERS
                    )
                    r.raise_for_status()
                    return r.text.strip()

            return await asyncio.gather(*(one(a.data) for a in archives))

        async def forget(api_url: str, cids: list[str]) -> None:
            for cid in cids:
                (await http.delete(f"{api_url}/data/{cid}")).raise_for_status()

        upload_plain, upload_ours = [], []
        link = ""
        for i in range(args.repeat):
            # The node forgets everything before each timed upload: both store new blocks.
            await forget(owner_node.api_url, [*cids, link] if link else cids)

            async def check_plain() -> None:
                assert await plain_upload() == cids

            upload_plain.append(await timed(check_plain))
            await forget(owner_node.api_url, cids)
            # A fresh owner directory each time: every archive is new to the publication.
            owner, owner_store = make_backend(root, f"owner-{i}", owner_node.api_url)
            await owner.start()

            publish = functools.partial(common.publish, owner, COMMUNITY, archives)
            upload_ours.append(await timed(publish))
            link = owner.current_link(COMMUNITY) or ""
            assert [e.locator["cid"] for e in await owner.read_index(COMMUNITY)] == cids
            await owner.stop()
            owner_store.close()

        # download + import vs plain GETs of the same archives from the member's node --------
        async def plain_download() -> int:
            sem = asyncio.Semaphore(common.CONCURRENCY)

            async def one(cid: str) -> int:
                n = 0
                async with (
                    sem,
                    http.stream("GET", f"{member_node.api_url}/data/{cid}/network/stream") as r,
                ):
                    r.raise_for_status()
                    async for chunk in r.aiter_raw():
                        n += len(chunk)
                return n

            return sum(await asyncio.gather(*(one(c) for c in cids)))

        async def member_run(i: int) -> tuple[float, float]:
            """A fresh member (directory, database): download, importing each archive as it
            completes (load_archive_messages + save_waku_messages). Returns (total, download)."""
            importer = common.ImportAsDownloaded()
            member, store = make_backend(root, f"member-{i}", member_node.api_url, importer.emit)
            await member.start()
            info, total_s, downloaded = await importer.run(member, store, COMMUNITY, link)
            assert info.total_downloaded == len(archives) and not info.failed_archive_ids, info
            assert store.count_waku_messages() == len(messages)
            await member.stop()
            store.close()
            return total_s, downloaded

        get_plain, download_ours, download_only = [], [], []
        # The member's CPU (this process: the nodes run in their own): on a machine with few
        # CPUs it is taken from the nodes, so it bounds the ratio when the floor is fast.
        cpu_plain: list[float] = []
        cpu_ours: list[float] = []
        for i in range(args.repeat):
            await forget(member_node.api_url, [link, *cids])
            get_plain.append(await cpu_timed(lambda: timed(plain_download), cpu_plain))
            await forget(member_node.api_url, [link, *cids])
            total_s, downloaded = await cpu_timed(functools.partial(member_run, i), cpu_ours)
            download_ours.append(total_s)
            download_only.append(downloaded)
    finally:
        await http.aclose()
        owner_node.terminate()
        member_node.terminate()
        # Nodes, owners and members leave hundreds of MB per repetition: nothing is kept.
        shutil.rmtree(root, ignore_errors=True)

    return {
        "benchmark": "codex_transfer",
        "target_ratio": 0.5,
        "setup": {
            "archives": len(archives),
            "bytes": total,
            "messages": len(messages),
            "payload_bytes": common.PAYLOAD,
            "repeat": args.repeat,
            "download_concurrency": common.CONCURRENCY,
            "upload_concurrency": CodexSettings().upload_concurrency,
            "nodes": "bundled local Codex-compatible node, one process each, 127.0.0.1",
            **common.machine(load_at_start),
        },
        "cid": {
            "floor": "hashlib.sha256 over the same bytes",
            "what": "verify.upload_cid (the backend's CID check and owner CIDs)",
            **common.rates(sha_s, cid_s, total),
            "node_recipe": {
                "what": "cid.compute_manifest (the local node's CidBuilder, copies blocks)",
                **common.rates(sha_s, recipe_s, total),
            },
        },
        "upload": {
            "floor": "plain HTTP POST /data of the same archive bytes, same node, same concurrency",
            **common.rates(upload_plain, upload_ours, total),
        },
        "download_import": {
            "floor": "plain HTTP GET /data/{cid}/network/stream of the same archives, same node",
            "what": "download_history_archives, each archive imported as it completes",
            **common.rates(get_plain, download_ours, total),
            "download_only": common.rates(get_plain, download_only, total),
            "member_cpu": {
                "what": "CPU seconds of the member's process per run, all threads (ours: a fresh "
                "member started, downloading and importing, stopped)",
                "floor_s": round(statistics.median(cpu_plain), 3),
                "ours_s": round(statistics.median(cpu_ours), 3),
                "samples_floor_s": [round(x, 3) for x in cpu_plain],
                "samples_ours_s": [round(x, 3) for x in cpu_ours],
            },
        },
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["setup"]
    lines = [
        "# Codex transfer benchmark",
        "",
        f"{s['archives']} archives, {s['bytes'] / common.MiB:.1f} MiB ({s['messages']} messages of "
        f"{s['payload_bytes']} B), median of {s['repeat']} runs; {s['nodes']}; "
        f"{s['machine']} (load average {s['load_average_at_start'][0]} at start), "
        f"Python {s['python']}. Target: ratio ≥ {result['target_ratio']}.",
        "",
        "| measurement | floor | floor MiB/s | ours MiB/s | ratio floor/ours | paired ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    names = {
        "cid": "CID computation",
        "upload": "upload (publication)",
        "download_import": "member download + import",
    }
    for key, label in names.items():
        r = result[key]
        lines.append(
            f"| {label} | {r['floor']} | {r['floor_mib_s']} | {r['ours_mib_s']} | {r['ratio']} "
            f"| {r['paired_ratio_median']} |"
        )
    r = result["download_import"]["download_only"]
    lines.append(
        f"| member download alone (info) | {result['download_import']['floor']} "
        f"| {r['floor_mib_s']} | {r['ours_mib_s']} | {r['ratio']} | {r['paired_ratio_median']} |"
    )
    r = result["cid"]["node_recipe"]
    lines.append(
        f"| CID, node's CidBuilder (info) | {result['cid']['floor']} | {r['floor_mib_s']} "
        f"| {r['ours_mib_s']} | {r['ratio']} | {r['paired_ratio_median']} |"
    )
    cpu = result["download_import"]["member_cpu"]
    lines.append("")
    lines.append(
        f"Member process CPU per run (median): {cpu['floor_s']} s for the plain GETs, "
        f"{cpu['ours_s']} s for the download + import (CID hashing, the local copy, the "
        "import); the two nodes run on the same CPUs, so the member's CPU is taken from them."
    )
    lines.append("")
    lines.append(
        "ratio = median floor time / median time of ours; paired ratio = median over the "
        "repetitions of floor/ours measured back to back. Times per repetition are in the JSON."
    )
    lines.append("")
    lines.append("Reproduce: `.venv/bin/python benchmarks/codex_transfer.py`.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = common.arguments(__doc__, mib=96).parse_args(argv)
    result = asyncio.run(run(args))
    common.write_results(args.out, "codex_transfer", result, markdown(result))
    keys = ("cid", "upload", "download_import")
    ok = all(
        min(result[k]["ratio"], result[k]["paired_ratio_median"]) >= result["target_ratio"]
        for k in keys
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
