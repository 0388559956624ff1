"""The dashboard's Streamlit settings: `.streamlit/config.toml` is what Streamlit reads, and `make app` uses it."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the lock installs tomli, tomllib's original
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"
SETTINGS = {
    "server.address": "127.0.0.1",  # this computer only, unless a teacher opens it on purpose
    "server.fileWatcherType": "poll",  # watch the app's files, not every folder under it (.venv)
    "server.allowedHosts": ["localhost", "127.0.0.1"],  # a page elsewhere naming this computer is refused
    "client.toolbarMode": "viewer",
    "client.showErrorDetails": "none",  # no traceback (and no server path) in a learner's browser
    "browser.gatherUsageStats": False,
    "runner.postScriptGC": False,   # a full collection after every rerun starved the training thread
}


@pytest.fixture()
def streamlit_config(monkeypatch):
    """Streamlit's own config loader, reading as `streamlit run` does in the project folder."""
    from streamlit import config

    for key in SETTINGS:  # an environment variable would win over the file
        monkeypatch.delenv("STREAMLIT_" + key.upper().replace(".", "_"), raising=False)
    monkeypatch.chdir(ROOT)
    yield config, config.get_config_options(force_reparse=True)
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def test_streamlit_reads_the_settings_from_the_projects_file(streamlit_config):
    config, options = streamlit_config
    for key, value in SETTINGS.items():
        assert config.get_option(key) == value, key
        assert options[key].where_defined == str(CONFIG), key
    parsed = tomllib.loads(CONFIG.read_text())
    in_file = {f"{section}.{name}" for section, values in parsed.items() for name in values}
    assert in_file == set(SETTINGS)  # nothing Streamlit would ignore as unknown
    assert not any(options[key].deprecated for key in in_file)


def make_app(*settings):
    """The commands `make app` would run (make -n), without installing anything first."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed here (CI and the README's commands need it)")
    # Under `make test` this runs inside another make: its MAKEFLAGS and level would add
    # "Entering directory" lines, so the command runs as a learner's top-level make would.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    result = subprocess.run([make, "--no-print-directory", "-n", "-o", ".venv/.installed-stamp", "app", *settings],
                            cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return result.stdout.splitlines()


def test_make_app_stays_on_this_computer_unless_asked():
    lines = make_app()
    assert lines[0] == ".venv/bin/python -m tl_lessons check-port 127.0.0.1 8501"
    shell = " ".join(lines)
    assert ".venv/bin/streamlit run app.py --server.address 127.0.0.1 --server.port 8501" in shell
    assert lines[-1].strip() == "--server.allowedHosts 'localhost' --server.allowedHosts '127.0.0.1'"
    # Opened to one classroom address: learners reach it by that address, and by nothing else.
    lines = make_app("ADDRESS=192.168.1.20", "PORT=8502")
    assert lines[0] == ".venv/bin/python -m tl_lessons check-port 192.168.1.20 8502"
    assert "--server.address 192.168.1.20 --server.port 8502" in " ".join(lines)
    assert lines[-1].strip().endswith("--server.allowedHosts '127.0.0.1' --server.allowedHosts '192.168.1.20'")
    # Every interface: any name, as Streamlit's own default.
    assert make_app("ADDRESS=0.0.0.0")[-1].strip() == "--server.allowedHosts '*'"


def test_make_app_prints_a_teacher_token_and_gives_it_to_the_server_only():
    shell = " ".join(make_app())
    # A fresh token unless the teacher set one, printed in the terminal and passed to Streamlit's process.
    assert "${TL_LESSONS_TEACHER_TOKEN:-$(.venv/bin/python -m tl_lessons teacher-token)}" in shell
    assert 'echo "Teacher page:' in shell and "token $TOKEN" in shell
    assert 'TL_LESSONS_TEACHER_TOKEN="$TOKEN" .venv/bin/streamlit run app.py' in shell
