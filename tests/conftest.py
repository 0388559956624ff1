"""Shared fixtures.

Tests that need something this machine may lack (the real CIFAR folders, a Chromium browser)
skip on a developer's machine without it, but FAIL when the matching environment variable is
set, as `.ci/run` does: in CI a missing prerequisite must never pass as a skip.
"""
import os
import shutil
from pathlib import Path

import pytest

# `make test` also runs the library's docstring examples (`--doctest-modules`), which reads every module
# on the command line for `>>>` examples, tests/ included. The helpers here (servers, faulty stores, the
# CIFAR fixture) sketch their use in `>>>` lines that need a test's fixtures: the tests import them, and
# pytest collects only the test files.
collect_ignore = [path.name for path in Path(__file__).parent.glob("*.py")
                  if not path.name.startswith("test_") and path.name != "conftest.py"]


def _missing(what: str, how: str, require_var: str):
    """Skip, or fail when `require_var` is set to 1."""
    message = f"{what} is missing: {how}"
    if os.environ.get(require_var) == "1":
        pytest.fail(f"{message} ({require_var}=1, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tests run on one torch thread unless TL_LESSONS_THREADS says otherwise.

    The tests use small tensors, and on a 2-core machine that also runs a Streamlit server
    and a browser, two OpenMP threads fighting for the cores make small operations many
    times slower instead of faster.
    """
    import torch

    from tl_lessons.hardware import thread_setting

    previous = torch.get_num_threads()
    torch.set_num_threads(thread_setting() or 1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def real_cifar_root() -> Path:
    """The folder holding the real `cifar-10-batches-py/` and `cifar-100-python/`."""
    from tl_lessons.data import data_dir

    root = data_dir()
    if not (root / "cifar-10-batches-py" / "test_batch").is_file():
        _missing(
            f"the real CIFAR data in {root}",
            "run `make data`, or build it with `python ../shared/data/build_cifar.py DEST` "
            "and set TL_LESSONS_DATA=DEST",
            "TL_LESSONS_REQUIRE_REAL_DATA",
        )
    return root


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of a Chromium the Playwright tests can drive (Debian's, never a download)."""
    for candidate in (os.environ.get("TL_LESSONS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            break
    else:
        _missing("Chromium", "install it with `apt-get install -y chromium`", "TL_LESSONS_REQUIRE_BROWSER")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package", "run `make install`", "TL_LESSONS_REQUIRE_BROWSER")
    return candidate


@pytest.fixture()
def run_store_path(tmp_path, monkeypatch) -> Path:
    """A fresh run store file for one test (also exported as TL_LESSONS_RUNS)."""
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("TL_LESSONS_RUNS", str(path))
    return path
