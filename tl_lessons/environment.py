"""Is this the environment the kit was tested with?

`requirements.lock` (written by `make lock`) names one exact version of every package the kit
needs, for every platform and Python version. `make install` installs exactly those versions,
and this module checks afterwards that they are what is installed: a package that drifted (an
older version already there, a later `pip install` that upgraded something) fails loudly, naming
the package, instead of showing up later as a puzzling difference in a notebook's output.

    python -m tl_lessons.environment --lock requirements.lock
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# The versions a chapter's numbers depend on; the bench records them beside its measurements.
KEY_PACKAGES = ("torch", "torchvision", "numpy", "streamlit", "nbval")


@dataclass(frozen=True)
class Pin:
    """One line of the lock that applies to this machine: `name==version`."""

    name: str
    version: str


def locked_pins(lock: Path, environment: dict | None = None) -> list[Pin]:
    """The lock's pins that apply here (their markers hold for this Python and platform).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lock = Path(folder, "requirements.lock")
    ...     _ = lock.write_text('torch==2.14.1\\npywin32==311 ; sys_platform == "win32"\\n')
    ...     locked_pins(lock, environment={"sys_platform": "linux"})
    [Pin(name='torch', version='2.14.1')]
    """
    pins = []
    for line in Path(lock).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        (specifier,) = requirement.specifier  # the lock pins each package with exactly one `==`
        pins.append(Pin(canonicalize_name(requirement.name), specifier.version))
    return pins


def installed_version(name: str) -> str | None:
    """The installed version of package `name`, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def drift(lock: Path, cpu_only: bool | None = None) -> list[str]:
    """One sentence per package whose installed version is not the locked one.

    A CPU build of torch carries a local label (`2.14.1+cpu`); it counts as the locked
    `2.14.1`. With a CPU-only torch the lock's CUDA libraries are not expected either.
    """
    if cpu_only is None:
        cpu_only = not _torch_has_cuda_libraries()
    problems = []
    for pin in locked_pins(lock):
        if cpu_only and pin.name.startswith(("nvidia-", "cuda-", "triton")):
            continue
        have = installed_version(pin.name)
        if have is None:
            problems.append(f"{pin.name} {pin.version} is in the lock but not installed.")
        elif Version(have).public != Version(pin.version).public:
            problems.append(f"{pin.name} is {have} here but the lock says {pin.version}.")
    return problems


def _torch_has_cuda_libraries() -> bool:
    version = installed_version("torch") or ""
    return "+cpu" not in version and installed_version("nvidia-cublas") is not None


def key_versions() -> dict[str, str | None]:
    """The installed versions of the packages whose behaviour the chapters' outputs depend on."""
    return {name: installed_version(name) for name in KEY_PACKAGES}


def cpu_name() -> str:
    """The processor's model name and core count, to say where a number was measured.

    >>> cpu_name()                  # 'AMD EPYC, 2 cores' on the development machine
    '..., ... cores'
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):  # not Linux
        name = platform.processor() or platform.machine() or "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=Path("requirements.lock"))
    args = parser.parse_args(argv)
    if not args.lock.is_file():
        print(f"There is no lock file at {args.lock}: run this from the project's folder.", file=sys.stderr)
        return 2
    problems = drift(args.lock)
    if problems:
        print("The installed packages are not the locked ones:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Run `make clean-venv install` to install exactly the locked versions "
            "(or `make lock` if you meant to change them).",
            file=sys.stderr,
        )
        return 1
    versions = ", ".join(f"{name} {version}" for name, version in key_versions().items())
    print(f"Installed packages match {args.lock} ({versions}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
