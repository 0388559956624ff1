"""Real disk faults for tests: a tiny disk that fills up, a file or folder that cannot be written.

The machine's user is often root, and `chmod` does not stop root from writing: only a read-only
mount does. So these helpers mount: a small tmpfs for a full disk, a read-only bind mount for a
read-only file or folder. Mounting needs root (CI runs as root); elsewhere the test skips and
says so.

    >>> with small_disk(tmp_path / "disk") as disk:
    ...     fill(disk)                    # now every write there fails with ENOSPC
    >>> with read_only(tmp_path / "runs"):
    ...     ...                           # the folder and what is in it cannot be written
"""
import errno
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*arguments: str) -> None:
    result = subprocess.run(["mount", *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"this test needs to mount a filesystem, which needs root (mount said: "
                    f"{result.stderr.strip()}); CI runs as root, so it runs there")


def _unmount(path: Path) -> None:
    # A lazy unmount as a last resort: a test must never leave a mount behind.
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextmanager
def small_disk(folder: Path, size: str = "256k"):
    """A tmpfs of `size` mounted on `folder` (created), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _unmount(folder)


def fill(folder: Path) -> Path:
    """Write zeros into `folder` until its disk is full; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler


@contextmanager
def read_only(path: Path):
    """`path` (a file or a folder) bind-mounted read-only onto itself, unmounted afterwards."""
    _mount("--bind", "-o", "ro", str(path), str(path))
    try:
        yield path
    finally:
        _unmount(path)
