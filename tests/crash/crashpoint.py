"""Run the `archive-service` CLI and kill it with SIGKILL at its Nth checkpoint.

    python crashpoint.py ARGS...        (the CLI's arguments)

Environment:
    CRASH_AT=N          the process sends itself SIGKILL when it reaches checkpoint N
                        (1-based); unset or 0: run to the end
    CRASH_COUNT_FILE=P  at a normal exit, write the number of checkpoints passed to P
    CRASH_LOG=P         append one line per checkpoint (its number and name) to P

A checkpoint is each point just before and just after a durable step the owner takes: every
rename and fsync (os.replace, os.fsync: atomic files, the torrent data file, folders), every
append of an archive to the torrent data file, every upload to the Codex node, and every
write of the end date, the link and the link clock to the store (a member adds its own:
install_member). Nothing in the library is
changed: the steps are wrapped here, in the child, and the kill is a real SIGKILL (no
clean-up, no atexit, no flush), delivered at a point chosen by number so a seeded campaign
can reach every step, including the ones a timed kill from outside almost never hits.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_count = 0
_crash_at = int(os.environ.get("CRASH_AT") or 0)
_log_path = os.environ.get("CRASH_LOG")


def checkpoint(name: str) -> None:
    global _count
    with _lock:
        _count += 1
        number = _count
        if _log_path:
            with open(_log_path, "a") as log:
                log.write(f"{number} {name}\n")
    if number == _crash_at:
        os.kill(os.getpid(), signal.SIGKILL)


_ID = re.compile(r"0x[0-9a-f]{64,}")


def _wrap_sync(owner: Any, attr: str, name: str, target: int | None = None) -> None:
    """`target`: the index of a path argument named in the checkpoint (a community or archive
    ID in it reads `<id>`), so a test can find e.g. the rename of the `.torrent`."""
    original: Callable[..., Any] = getattr(owner, attr)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        label = name
        if target is not None and len(args) > target:
            label += " " + _ID.sub("<id>", os.path.basename(os.fspath(args[target])))
        checkpoint(f"before {label}")
        result = original(*args, **kwargs)
        checkpoint(f"after {label}")
        return result

    setattr(owner, attr, wrapped)


def _wrap_async(owner: Any, attr: str, name: str) -> None:
    original: Callable[..., Any] = getattr(owner, attr)

    @functools.wraps(original)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        checkpoint(f"before {name}")
        result = await original(*args, **kwargs)
        checkpoint(f"after {name}")
        return result

    setattr(owner, attr, wrapped)


def install() -> None:
    from archive_service.store import Store

    _wrap_sync(os, "replace", "rename", target=1)
    _wrap_sync(os, "fsync", "fsync")
    for method in ("set_last_archive_end_date", "set_archive_link", "set_archive_link_clock"):
        _wrap_sync(Store, method, f"store.{method}")
    try:
        from archive_service_torrent.publication import TorrentPublication
    except ImportError:
        pass
    else:
        _wrap_sync(TorrentPublication, "_append", "torrent append")
    try:
        from archive_service_codex.client import CodexClient
    except ImportError:
        pass
    else:
        _wrap_async(CodexClient, "upload", "codex upload")
    count_file = os.environ.get("CRASH_COUNT_FILE")
    if count_file:
        atexit.register(lambda: open(count_file, "w").write(str(_count)))


def install_member() -> None:
    """The member's own durable steps: recording a downloaded archive, and importing one
    (its messages and its imported mark in one transaction)."""
    from archive_service.store import Store

    for method in ("save_archive_id", "import_archive", "set_archive_imported"):
        _wrap_sync(Store, method, f"store.{method}")


def main() -> None:
    install()
    from archive_service_cli.cli import main as cli_main

    sys.argv = ["archive-service", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
