"""The archive-service CLI driven as a user drives it, in real subprocesses: the helpers the
CLI tests share (one-shot commands, long-running ones read line by line, a second process
holding a data dir's writer lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

CLI = [sys.executable, "-m", "archive_service_cli"]
LOOPBACK_TORRENT = """
[backend.torrent]
listen_interface = "127.0.0.1"
announce = []
enable_dht = false
loopback_only = true
magnet_peer_hints = true
"""


def run(
    *args: str | Path, check: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """One CLI command to its end, stdin closed (a prompt reads end of file). With `check`, a
    non-zero exit fails the test with both outputs."""
    result = subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


class Background:
    """A long-running CLI command (codex-node, seed) read line by line; with `ready`, until
    that line. With `drain`, what it writes after that line is read and dropped in a thread
    (a full pipe would block it at its next log line)."""

    def __init__(
        self,
        *args: str | Path,
        ready: str | None = None,
        env: Mapping[str, str] | None = None,
        drain: bool = False,
    ) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*CLI, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env if env is not None else {**os.environ, "COLUMNS": "400"},
        )
        self.lines: list[str] = []
        if ready is not None:
            self.wait_for(ready, timeout=60)
        if drain:
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"{self.args} ended early:\n{''.join(self.lines)}")
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} from {self.args}:\n{''.join(self.lines)}")

    def value(self, prefix: str) -> str:
        for line in self.lines:
            if prefix in line:
                return line.split(prefix, 1)[1].split()[0]
        raise AssertionError(f"no {prefix!r} in {self.lines}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


HOLDER = """
import sys
from pathlib import Path
from archive_service.datadir import DataDirLock
lock = DataDirLock(Path(sys.argv[1]), "archive-service create -d owner")
lock.acquire()
print("held", flush=True)
sys.stdin.read()  # until the test closes stdin
"""


def hold_in_child(data_dir: Path) -> subprocess.Popen[str]:
    """Another process holding `data_dir`'s writer lock until its stdin is closed."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    return child
