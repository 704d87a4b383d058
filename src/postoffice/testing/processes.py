"""Stopping the peer processes tests start (by the PID they started), and their temp dirs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL (to its process group with `group`) if it lingers past `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(5)


def remove_tree(root: Path | None, keep: bool) -> Path | None:
    """Remove `root` unless `keep`; returns the directory left behind (None when removed)."""
    if root is None:
        return None
    if keep:
        return root
    shutil.rmtree(root, ignore_errors=True)
    return None
