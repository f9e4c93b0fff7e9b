"""One writer per data dir: an OS lock (`flock`) on a file in the data dir.

The kernel releases an flock when its holder exits, however it exits (kill -9 included), so a
crashed writer never leaves the data dir locked and no stale-lock cleanup is needed. The lock
file also names its holder (pid and command line), so a refused process can say who is
writing. The file is never deleted: deleting a lock file lets two processes lock two different
files of the same name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from archive_service.errors import DataDirBusyError

WRITER_LOCK = "archive-service.lock"  # held while a process writes the store or a backend
DAEMON_LOCK = "archive-service-seed.lock"  # held by the one seed daemon of a data dir
# A holder writes its pid just after it takes the lock and clears it just before it lets go; a
# process refused inside either window re-tries for up to this long before it names no one.
HOLDER_WAIT = 2.0
HOLDER_POLL = 0.01


class DataDirLock:
    """An exclusive, non-blocking lock on `data_dir/name`; `command` is shown to whoever is
    refused. Not reentrant: acquire once, release once."""

    def __init__(self, data_dir: Path, command: str, *, name: str = WRITER_LOCK) -> None:
        self.data_dir = data_dir
        self.path = data_dir / name
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another process (or another DataDirLock of
        this process) holds it."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this DataDirLock")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # No O_TRUNC: the holder's pid and command stay readable to the refused process.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{self.command}\n".encode(), 0)
        self._fd = fd
        return True

    def acquire(
        self, *, holder_wait: float = HOLDER_WAIT, pause: Callable[[float], None] = time.sleep
    ) -> None:
        """Take the lock or raise DataDirBusyError naming the holder.

        Refused while the holder has the lock but has not yet written its pid (or has already
        cleared it on the way out), this tries again until the pid is readable or the lock is
        free, for up to `holder_wait` seconds; `pause` is the wait between tries."""
        deadline = time.monotonic() + holder_wait
        while not self.try_acquire():
            holder = self._named_holder()
            if holder is not None or time.monotonic() >= deadline:
                raise DataDirBusyError(
                    f"data dir {self.data_dir} is held by {holder or 'another process'}; wait "
                    "for it to finish or use another --data-dir"
                )
            pause(HOLDER_POLL)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the next reader sees no stale holder
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def holder(self) -> str:
        """'pid N (command)' of the process holding the lock, as it wrote it."""
        return self._named_holder() or "another process"

    def _named_holder(self) -> str | None:
        """'pid N (command)' as the holder wrote it; None while nothing valid is written."""
        try:
            pid, _, command = self.path.read_text(errors="replace").partition("\n")
        except OSError:
            return None
        if not pid.strip().isdigit():
            return None
        command = command.strip()
        return f"pid {pid.strip()}" + (f" ({command})" if command else "")

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
