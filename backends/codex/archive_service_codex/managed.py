"""The managed node (`managed_node.enabled = true`): the local Codex-compatible node of the
archive-service-codex-node distribution, run as a child process and stopped with the backend.

A child process rather than an import keeps the plugin free of the simulator and of aiohttp: a
production install talks to a real node and never needs either.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from archive_service.errors import BackendUnavailableError

SIMULATOR_MODULE = "archive_service_codex_node"
READY = "REST service started address="
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ManagedNode:
    """One local node process: `start()` returns once it serves (`api_url`, `peer_id`, `spr`
    are then known); `stop()` asks it to stop (SIGTERM) and kills it if it does not."""

    def __init__(
        self,
        data_dir: Path,
        *,
        api_port: int,
        storage_quota: int,
        block_retries: int,
        retry_interval: float,
        bootstrap: Sequence[str] = (),
        api: str = "codex-v1",
    ) -> None:
        """`api`: the REST generation the node answers as (codex-v1 or storage-v1)."""
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self.args = [
            "--data-dir", str(self.data_dir),
            "--api-port", str(api_port),
            "--storage-quota", str(storage_quota),
            "--block-retries", str(max(1, block_retries)),  # as the node: at least one try
            "--retry-interval", str(retry_interval),
            *(arg for spr in bootstrap for arg in ("--bootstrap-node", spr)),
            "--api", api,
        ]  # fmt: skip
        self.api_url = ""
        self.peer_id = ""
        self.spr = ""
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if importlib.util.find_spec(SIMULATOR_MODULE) is None:
            raise BackendUnavailableError(
                "backend.logos-storage.managed_node.enabled needs the local node: "
                "pip install archive-service-codex-node (or run a Codex node and set api_url)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # noqa: ASYNC230 (opening a local log is instant)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", SIMULATOR_MODULE, *self.args,
                stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self._read_ready_lines(proc)
        except BaseException as exc:
            await _kill(proc)
            if isinstance(exc, TimeoutError):
                raise BackendUnavailableError(
                    f"the managed Codex node was not ready after {START_TIMEOUT:g} s; "
                    f"see {self.log_path}"
                ) from None
            raise
        self._proc = proc

    async def _read_ready_lines(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                code = await proc.wait()
                tail = self.log_path.read_text(errors="replace")[-2000:].strip()
                raise BackendUnavailableError(
                    f"the managed Codex node exited with {code} before it was ready: {tail}"
                )
            line = raw.decode(errors="replace").strip()
            if line.startswith(READY):
                self.api_url = line[len(READY) :]
            elif line.startswith("peerId="):
                self.peer_id = line[len("peerId=") :]
            elif line.startswith("spr="):
                self.spr = line[len("spr=") :]
                return  # the last line the node prints once it serves

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            await _kill(proc)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
