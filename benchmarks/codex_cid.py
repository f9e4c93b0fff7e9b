"""Codex CID computation vs the floor `hashlib.sha256` over the same bytes, in one run.

Ours: `CidBuilder` fed in 1 MiB chunks (as an upload streams in) — 64 KiB blocks with a
zero-padded last block, SHA-256 per block, the CodexTree Merkle root, the manifest and its CID.
Floor: one `hashlib.sha256` over the same bytes, fed the same chunks. Each size is timed
`--repeat` times alternately; the best time of each side is kept. Target (DESIGN.md): ratio
floor/ours ≥ 0.5.

    .venv/bin/python benchmarks/codex_cid.py [--sizes-mib 1,16,128] [--repeat 5]

Writes benchmarks/results/codex_cid.json and .md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from archive_service_codex.cid import CidBuilder

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 1 << 20
TARGET = 0.5


def cid_of(data: memoryview) -> str:
    builder = CidBuilder()
    for start in range(0, len(data), CHUNK):
        builder.update(data[start : start + CHUNK])
    builder.close()
    return builder.finish("archive-data.bin", "application/octet-stream").cid.text


def sha256_of(data: memoryview) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(data), CHUNK):
        digest.update(data[start : start + CHUNK])
    return digest.hexdigest()


def best_time(fn: Any, data: memoryview) -> float:
    start = time.perf_counter()
    fn(data)
    return time.perf_counter() - start


def measure(size: int, repeat: int) -> dict[str, Any]:
    # An odd size: the last block is padded, as for real archives.
    data = memoryview(os.urandom(size + 12345))
    cid_of(data)  # warm-up
    ours, floor = [], []
    for _ in range(repeat):
        ours.append(best_time(cid_of, data))
        floor.append(best_time(sha256_of, data))
    t_ours, t_floor = min(ours), min(floor)
    return {
        "bytes": len(data),
        "cid_seconds": t_ours,
        "sha256_seconds": t_floor,
        "cid_mib_s": len(data) / t_ours / 2**20,
        "sha256_mib_s": len(data) / t_floor / 2**20,
        "ratio": t_floor / t_ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", default="1,16,128")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = [measure(int(s) * 2**20, args.repeat) for s in args.sizes_mib.split(",")]
    result = {
        "benchmark": "codex_cid",
        "what": "CidBuilder (Codex manifest CID) vs hashlib.sha256, same bytes, 1 MiB chunks",
        "target_ratio": TARGET,
        "ok": all(r["ratio"] >= TARGET for r in rows),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "codex_cid.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Codex CID computation vs hashlib.sha256",
        "",
        "| size | CID MiB/s | sha256 MiB/s | ratio (target ≥ 0.5) |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bytes'] / 2**20:.1f} MiB | {r['cid_mib_s']:.0f} | {r['sha256_mib_s']:.0f} "
            f"| {r['ratio']:.2f} |"
        )
    (RESULTS / "codex_cid.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
