"""Command line of the local node: `python -m archive_service_codex_node …`, and
`run_node_cli(argv)` for the main CLI's `archive-service codex-node` command.

Flags mirror the real node's (`--data-dir`, `--api-port`, `--api-bindaddr`,
`--bootstrap-node` repeatable, `--storage-quota` with binary size suffixes, `--block-retries`),
plus `--retry-interval` (the real node sleeps up to 2 s per retry) and `--profile` (a bundled
performance profile or a profile file; see profile.py). Prints `REST service started
address=<api url>` once ready; SIGTERM / SIGINT stop it cleanly (exit 0). A busy port or data
dir prints one error line and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from archive_service.errors import BackendUnavailableError, ConfigError
from archive_service_codex_node.profile import (
    DEFAULT_PROFILE,
    ProfileError,
    bundled_profiles,
    load_profile,
)
from archive_service_codex_node.server import DEFAULT_QUOTA, LocalCodexNode

_SIZE = re.compile(r"(?i)\s*(\d+)\s*([kmgt]?)(i?b)?\s*")
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """Bytes, with an optional binary suffix as Nim's parseSize: 512, 64k, 100MiB, 20GB."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1073741824, 512MiB, 20GB)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-node",
        description="Local Codex-compatible node (REST API of nim-codex v0.2.x, for development "
        "and tests; no DHT, erasure coding or marketplace).",
        epilog="examples:\n"
        "  archive-service codex-node --data-dir owner-codex --api-port 8080\n"
        "  archive-service codex-node -d member-codex -p 8081 --bootstrap-node spr:...\n"
        "  python -m archive_service_codex_node -d node -p 0 --storage-quota 1GiB\n"
        "  codex-node -d node -p 0 --profile measured-2026-11",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", "-d", type=Path, required=True, help="node identity and blocks"
    )
    parser.add_argument("--api-port", "-p", type=int, default=8080, help="REST port (0: any free)")
    parser.add_argument("--api-bindaddr", default="127.0.0.1", help="REST bind address")
    parser.add_argument(
        "--bootstrap-node",
        "-b",
        action="append",
        default=[],
        metavar="SPR",
        help="spr: record of a local node to join through (repeatable)",
    )
    parser.add_argument("--storage-quota", "-q", type=parse_size, default=DEFAULT_QUOTA)
    parser.add_argument("--block-retries", type=int, default=3, help="retries for a wanted block")
    parser.add_argument("--retry-interval", type=float, default=0.2, help="seconds between retries")
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|FILE",
        help="performance profile: a bundled one "
        f"({', '.join(bundled_profiles())}) or a profile TOML file (default: {DEFAULT_PROFILE})",
    )
    parser.add_argument("--log-level", default="info", help="trace|debug|info|notice|warn|error")
    parser.add_argument(
        "--api",
        choices=["codex-v1", "storage-v1"],
        default="codex-v1",
        help="REST generation: codex-v1 (nim-codex v0.2.x, /api/codex/v1) or storage-v1 "
        "(Logos Storage v0.5.x, /api/storage/v1)",
    )
    parser.add_argument(
        "--legacy-build",
        action="store_true",
        help="answer as the pre-v0.2.0 Codex build measured in issue 13 (caed3c07): upload "
        "time in manifests, no /exists or DELETE route, empty-body errors",
    )
    parser.add_argument(
        "--network-miss-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="hold a network request for a CID nobody has this long, then answer 404 "
        "'Timeout exceeded!' (a real node held 600 s); 0 answers at once",
    )
    return parser


async def serve(node: LocalCodexNode) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    try:
        print(f"REST service started address={node.api_url}", flush=True)
        print(f"peerId={node.peer_id}", flush=True)
        print(f"spr={node.spr}", flush=True)
        await stop.wait()
    finally:
        await node.stop()
        print("node stopped", flush=True)


def run_node_cli(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level.split(";")[0].upper()
    logging.basicConfig(
        level={"TRACE": 5, "NOTICE": 25, "WARN": 30}.get(level, getattr(logging, level, 20)),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not 0 <= args.api_port <= 65535:
        print(f"error: --api-port {args.api_port} is not a port (0-65535)", file=sys.stderr)
        return 2
    if args.network_miss_wait < 0:
        print("error: --network-miss-wait must be ≥ 0", file=sys.stderr)
        return 2
    if args.block_retries < 1 or args.retry_interval < 0:
        print("error: --block-retries must be ≥ 1 and --retry-interval ≥ 0", file=sys.stderr)
        return 2
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    node = LocalCodexNode(
        args.data_dir,
        host=args.api_bindaddr,
        api_port=args.api_port,
        storage_quota=args.storage_quota,
        block_retries=args.block_retries,
        retry_interval=args.retry_interval,
        bootstrap=args.bootstrap_node,
        api=args.api,
        network_miss_wait=args.network_miss_wait,
        legacy_build=args.legacy_build,
        profile=profile,
    )
    try:
        asyncio.run(serve(node))
    except (BackendUnavailableError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def main() -> None:
    """Console script `codex-node`."""
    sys.exit(run_node_cli())
