"""Run a local node as a subprocess (`python -m archive_service_codex_node`), for tests that
must kill a node mid-transfer and for benchmarks that want the node outside their process."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from archive_service.errors import BackendUnavailableError

READY = "REST service started address="


class NodeProcess:
    """One node process. `start()`/`astart()` wait for the ready line; the first start with
    `api_port=0` picks a free port, and restarts reuse it (and the data dir, so the identity)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        api_port: int = 0,
        args: Sequence[str] = (),
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = api_port
        self.args = list(args)
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + ".log")
        self.api_url = ""
        self.peer_id = ""
        self.spr = ""
        self.proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def _spawn(self) -> None:
        cmd = [
            sys.executable, "-m", "archive_service_codex_node",
            "--data-dir", str(self.data_dir), "--api-port", str(self.port), *self.args,
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")
        try:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ}
            )
        finally:
            log.close()
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self._lines), daemon=True).start()

    @staticmethod
    def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def _take_line(self, deadline: float, timeout: float) -> bool:
        """Wait for the next stdout line (until `deadline`, monotonic); True once ready.
        Raises if the process died or the deadline passed."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.kill()
            raise BackendUnavailableError(f"local Codex node not ready after {timeout} s") from None
        if line is None:
            assert self.proc is not None
            code = self.proc.wait()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BackendUnavailableError(f"local Codex node exited with {code}: {tail.strip()}")
        if line.startswith(READY):
            self.api_url = line[len(READY) :].strip()
            self.port = int(self.api_url.split(":")[2].split("/")[0])
        elif line.startswith("peerId="):
            self.peer_id = line[len("peerId=") :]
        elif line.startswith("spr="):
            self.spr = line[len("spr=") :]
            return True
        return False

    def start(self, timeout: float = 20.0) -> None:
        self._spawn()
        deadline = time.monotonic() + timeout
        while not self._take_line(deadline, timeout):
            pass

    async def astart(self, timeout: float = 20.0) -> None:
        """Like start(), without blocking the event loop (in-process nodes keep serving): each
        line is awaited in a worker thread."""
        self._spawn()
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._take_line, deadline, timeout):
            pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
