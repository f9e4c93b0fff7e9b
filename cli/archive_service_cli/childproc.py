"""The child processes of `compare` (one per side) and of the swarm (one per node): how one
starts, talks to its parent over a multiprocessing pipe, and reports the error it died of."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from archive_service.errors import ArchiveServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failed:
    """A child's last message: the exception it died of, in one line."""

    error: str


class Channel:
    """A child's end of the pipe. Events may be emitted from worker threads, and two threads
    writing one Connection at once would interleave their pickles."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        with self._lock, contextlib.suppress(OSError):  # parent gone: the run is lost anyway
            self.conn.send(message)


def redirect_output(log_path: Path) -> None:
    """A child writes nothing to the terminal the parent draws on: stdout and stderr go to
    `log_path`, and so does logging."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s",
        force=True,
    )


def run_child(
    conn: Connection, main: Callable[[Channel], Coroutine[Any, Any, None]], what: str
) -> None:
    """Run `main` to its end in this (child) process; if it raises, log it, send the parent
    `Failed` and exit 1. The pipe is closed either way."""
    channel = Channel(conn)
    try:
        asyncio.run(main(channel))
    except BaseException as exc:
        log.exception("%s process failed", what)
        message = str(exc) if isinstance(exc, ArchiveServiceError) else repr(exc)
        channel.send(Failed(f"{type(exc).__name__}: {message}"))
        sys.exit(1)
    finally:
        conn.close()
