"""Measure a Codex performance profile from two nodes, the way issue 12's figures were measured.

For each size (default 16 and 64 MiB) and repetition, fresh random bytes are:
- uploaded to node A (`POST /data`): the upload rate;
- downloaded by node B from A (`GET /data/{cid}/network/stream` on B, which holds nothing of
  them yet): the network transfer rate between two nodes;
- read back from A (`GET /data/{cid}`): the local read rate.
A one-block dataset fetched the same way gives the request latency: its time ÷ 2 (the
manifest and the block, the two requests a real node makes for it). The exchange rate above
already includes the round trips of the large transfers.

Each rate in the written profile is the midpoint of the range measured over all sizes and
repetitions (as the bundled `measured-2026-11` takes the midpoints of the issue's ranges).

    .venv/bin/python benchmarks/codex_profile.py URL_A URL_B    # two real nodes
    .venv/bin/python benchmarks/codex_profile.py                # two local simulator nodes
    .venv/bin/python benchmarks/codex_profile.py --sim-profile measured-2026-11

URL_A and URL_B are the nodes' API URLs (`http://host:port/api/codex/v1`; a bare
`http://host:port` gets that prefix). B is asked to connect to A first (`/connect` with A's
`/debug/info` addresses); a failure there is reported, and the transfer is tried anyway (the
nodes may know each other already). Without URLs, two simulator nodes run as subprocesses
with `--sim-profile` (default: unthrottled).

Writes <out>/<stem>.toml (the profile, for `codex-node --profile FILE` and `compare
--codex-profile FILE`), <stem>.json and <stem>.md; default benchmarks/results/codex_profile.*.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from archive_service_codex_node.process import NodeProcess
from archive_service_codex_node.profile import PerformanceProfile

RESULTS = Path(__file__).resolve().parent / "results"
API_PREFIX = "/api/codex/v1"
MiB = 1 << 20
FIGURES = {
    "upload": "upload_bytes_per_s",
    "network transfer": "exchange_bytes_per_s",
    "local read": "local_read_bytes_per_s",
}


def api_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


async def timed_upload(http: httpx.AsyncClient, node: str, data: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    r = await http.post(
        node + "/data", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    seconds = time.perf_counter() - started
    if r.status_code != 200:
        raise RuntimeError(f"upload to {node} failed: HTTP {r.status_code} {r.text[:200]}")
    return r.text.strip(), seconds


async def timed_download(http: httpx.AsyncClient, url: str, size: int) -> float:
    """Stream the body, discarding it; check its length."""
    received = 0
    started = time.perf_counter()
    async with http.stream("GET", url) as r:
        if r.status_code != 200:
            raise RuntimeError(f"GET {url} failed: HTTP {r.status_code}")
        async for chunk in r.aiter_raw():
            received += len(chunk)
    seconds = time.perf_counter() - started
    if received != size:
        raise RuntimeError(f"GET {url} returned {received} bytes, expected {size}")
    return seconds


async def connect(http: httpx.AsyncClient, a: str, b: str) -> str:
    """Ask B to connect to A; '' when it did, else why not."""
    try:
        info = (await http.get(a + "/debug/info")).json()
        r = await http.get(f"{b}/connect/{info['id']}", params={"addrs": info["addrs"]})
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return f"could not ask B to connect to A: {exc!r}"
    return "" if r.status_code == 200 else f"B/connect answered {r.status_code} {r.text[:200]}"


async def measure(a: str, b: str, sizes: list[int], repeat: int) -> dict[str, Any]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in FIGURES}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0)) as http:
        connect_problem = await connect(http, a, b)
        for size in sizes:
            for _ in range(repeat):
                data = os.urandom(size)
                cid, up = await timed_upload(http, a, data)
                net = await timed_download(http, f"{b}/data/{cid}/network/stream", size)
                local = await timed_download(http, f"{a}/data/{cid}", size)
                for name, seconds in (
                    ("upload", up),
                    ("network transfer", net),
                    ("local read", local),
                ):
                    samples[name].append(
                        {"bytes": size, "seconds": seconds, "bytes_per_s": size / seconds}
                    )
        small = []
        for _ in range(repeat):
            cid, _up = await timed_upload(http, a, os.urandom(1024))
            small.append(await timed_download(http, f"{b}/data/{cid}/network/stream", 1024))
    return {"samples": samples, "one_block_s": small, "connect_problem": connect_problem}


def summarize(measured: dict[str, Any], name: str, description: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    profile_values: dict[str, float] = {}
    for label, key in FIGURES.items():
        rates = [s["bytes_per_s"] for s in measured["samples"][label]]
        low, high = min(rates), max(rates)
        figures[label] = {
            "min_mib_s": round(low / MiB, 2),
            "median_mib_s": round(statistics.median(rates) / MiB, 2),
            "max_mib_s": round(high / MiB, 2),
            "midpoint_mib_s": round((low + high) / 2 / MiB, 2),
        }
        profile_values[key] = round((low + high) / 2, 1)
    latency = statistics.median(measured["one_block_s"]) / 2
    figures["request latency"] = {"one_block_download_s": measured["one_block_s"]}
    profile = PerformanceProfile(
        name=name,
        description=description,
        request_latency_s=round(latency, 4),
        **profile_values,
    )
    return {"figures": figures, "profile": profile}


@contextlib.asynccontextmanager
async def two_simulator_nodes(workdir: Path, sim_profile: str) -> AsyncIterator[tuple[str, str]]:
    """Nodes A and B as subprocesses, as real nodes would be; B bootstrapped to A."""
    args = ["--profile", sim_profile, "--log-level", "warn"]
    a = NodeProcess(workdir / "a", args=args)
    b: NodeProcess | None = None
    try:
        await a.astart()
        b = NodeProcess(workdir / "b", args=[*args, "--bootstrap-node", a.spr])
        await b.astart()
        yield a.api_url, b.api_url
    finally:
        for proc in (b, a):
            if proc is not None:
                proc.terminate()


def write(out: Path, stem: str, result: dict[str, Any], profile: PerformanceProfile) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.toml").write_text(
        f"# Measured by benchmarks/codex_profile.py on {result['date']}: {result['nodes']}.\n"
        "# Rates: midpoints of the measured ranges; latency: one-block network download / 2.\n"
        + profile.to_toml()
    )
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        f"| {label} | {f['min_mib_s']}–{f['max_mib_s']} | {f['median_mib_s']} | "
        f"{f['midpoint_mib_s']} |"
        for label, f in result["figures"].items()
        if label in FIGURES
    ]
    problem = result["connect_problem"]
    md = [
        "# Codex performance profile",
        "",
        f"Nodes: {result['nodes']}. Sizes {result['sizes_mib']} MiB of random bytes, "
        f"{result['repeat']} repetitions each; {result['machine']}.",
        "",
        "| figure | range MiB/s | median MiB/s | profile (midpoint) MiB/s |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Request latency: {profile.request_latency_s} s (median one-block network download "
        "÷ 2: the manifest and the block).",
        "",
        f"Profile written to `{stem}.toml` (name `{profile.name}`); use it with "
        f"`codex-node --profile {stem}.toml`.",
        *(["", f"Connecting B to A: {problem}"] if problem else []),
        "",
        f"Reproduce: `.venv/bin/python benchmarks/codex_profile.py {result['command']}`.",
        "",
    ]
    (out / f"{stem}.md").write_text("\n".join(md))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()[0]  # CPU-bound figures (upload, local read) drop on a busy machine
    sizes = [max(1, int(mib * MiB)) for mib in args.mib]
    if args.urls:
        a, b = (api_url(url) for url in args.urls)
        measured = await measure(a, b, sizes, args.repeat)
        nodes = f"A {a}, B {b}"
    else:
        with tempfile.TemporaryDirectory(prefix="codex-profile-") as tmp:
            async with two_simulator_nodes(Path(tmp), args.sim_profile) as (a, b):
                measured = await measure(a, b, sizes, args.repeat)
        nodes = (
            f"two local simulator nodes (archive_service_codex_node, profile "
            f"{args.sim_profile}), one process each, 127.0.0.1"
        )
    date = datetime.date.today().isoformat()
    default_name = f"measured-{date[:7]}" if args.urls else f"simulator-{args.sim_profile}"
    name = args.name or default_name
    summary = summarize(measured, name, f"measured by benchmarks/codex_profile.py: {nodes}")
    profile: PerformanceProfile = summary["profile"]
    result = {
        "date": date,
        "nodes": nodes,
        "sizes_mib": args.mib,
        "repeat": args.repeat,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs "
        f"(load average {load:.2f} at start), Python {platform.python_version()}",
        "figures": summary["figures"],
        "samples": measured["samples"],
        "connect_problem": measured["connect_problem"],
        "profile": {k: v for k, v in vars(profile).items() if v is not None},
        "command": " ".join(sys.argv[1:]),
    }
    write(args.out, args.stem, result, profile)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="*", metavar="URL", help="API URLs of nodes A and B")
    parser.add_argument("--mib", type=float, nargs="+", default=[16, 64], help="sizes in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per size")
    parser.add_argument(
        "--name", help="profile name (default: measured-YYYY-MM, or simulator-<sim profile>)"
    )
    parser.add_argument(
        "--sim-profile", default="unthrottled", help="profile of the simulator nodes (no URLs)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    parser.add_argument("--stem", default="codex_profile", help="output file name stem")
    args = parser.parse_args(argv)
    if len(args.urls) not in (0, 2):
        parser.error("give both URL_A and URL_B, or neither (two local simulator nodes)")
    if args.repeat < 1 or any(mib <= 0 for mib in args.mib):
        parser.error("--repeat must be ≥ 1 and every --mib size > 0")
    result = asyncio.run(run(args))
    for label, figure in result["figures"].items():
        if label in FIGURES:
            print(f"{label}: {figure['min_mib_s']}–{figure['max_mib_s']} MiB/s")
    print(f"wrote {args.out / args.stem}.toml, .json, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
