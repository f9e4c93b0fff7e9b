"""A real process killed inside `fsutil.AtomicFile`: what a crash mid-write leaves behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def killed_writer(target: Path) -> Path:
    """A real process that dies by SIGKILL inside AtomicFile, leaving its temporary file."""
    code = (
        "import os, signal, sys\n"
        "from archive_service.fsutil import AtomicFile\n"
        "out = AtomicFile(sys.argv[1])\n"
        "out.write(b'half')\n"
        "print(out.tmp, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == -signal.SIGKILL
    return Path(run.stdout.strip())
