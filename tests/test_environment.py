"""The locked environment: `make install` installs exactly requirements.lock, and drift is caught."""
import subprocess
import sys
from pathlib import Path

from tl_lessons import environment

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def test_installed_packages_are_the_locked_ones():
    """Fails, naming the package, when this environment is not what the lock says (a drifted install)."""
    problems = environment.drift(LOCK)
    assert problems == [], "\n".join(problems) + "\nRun `make clean-venv install`."


def test_the_lock_pins_the_packages_the_chapters_depend_on():
    pins = {pin.name: pin.version for pin in environment.locked_pins(LOCK)}
    for name in environment.KEY_PACKAGES:
        assert name in pins, f"{name} is not pinned in requirements.lock"
    assert pins["torch"] == environment.installed_version("torch").split("+")[0]


def test_a_drifted_package_is_named(tmp_path):
    numpy_version = environment.installed_version("numpy")
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "numpy==0.0.1\n    # via tl-lessons\n"
        f"pillow=={environment.installed_version('pillow')}\n"
        "not-a-real-package-tl-lessons==1.0\n"
        "other-platform-only==1.0 ; sys_platform == 'no-such-platform'\n"
    )
    problems = environment.drift(lock)
    assert problems == [
        f"numpy is {numpy_version} here but the lock says 0.0.1.",
        "not-a-real-package-tl-lessons 1.0 is in the lock but not installed.",
    ]


def test_a_cpu_build_counts_as_the_locked_version(tmp_path, monkeypatch):
    lock = tmp_path / "requirements.lock"
    lock.write_text("torch==2.14.1\nnvidia-cublas==13.1.1.3 ; sys_platform == 'linux'\n")
    versions = {"torch": "2.14.1+cpu", "nvidia-cublas": None}
    monkeypatch.setattr(environment, "installed_version", versions.get)
    assert environment.drift(lock, cpu_only=True) == []
    assert environment.drift(lock, cpu_only=False) == ["nvidia-cublas 13.1.1.3 is in the lock but not installed."]


def test_the_command_line_check_exits_non_zero_and_says_what_to_do(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==0.0.1\n")
    result = subprocess.run([sys.executable, "-m", "tl_lessons.environment", "--lock", str(lock)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "numpy is" in result.stderr and "make clean-venv install" in result.stderr
    result = subprocess.run([sys.executable, "-m", "tl_lessons.environment", "--lock", str(LOCK)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Installed packages match" in result.stdout


def make_dry_run(*arguments):
    """The commands `make install` would run for a venv that does not exist yet (nothing is run)."""
    return subprocess.run(["make", "-n", "install", "VENV=/nonexistent/tl-lessons-venv", *arguments],
                          cwd=ROOT, capture_output=True, text=True)


def test_make_install_installs_the_lock_without_resolving_again():
    result = make_dry_run()
    assert result.returncode == 0, result.stderr
    assert "cat requirements.lock >" in result.stdout
    assert "pip install --quiet --no-deps" in result.stdout
    assert "download.pytorch.org" not in result.stdout
    assert "tl_lessons.environment --lock requirements.lock" in result.stdout


def test_make_install_torch_cpu_takes_torch_from_the_cpu_index_and_leaves_cuda_out():
    result = make_dry_run("TORCH=cpu")
    assert result.returncode == 0, result.stderr
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in result.stdout
    filter_command = next(line for line in result.stdout.splitlines() if "requirements.lock >" in line)
    rows = subprocess.run(filter_command.split(">")[0], shell=True, cwd=ROOT, capture_output=True, text=True).stdout
    names = [line.split("==")[0] for line in rows.splitlines() if "==" in line and not line.startswith(" ")]
    assert "torch" in names and "torchvision" in names
    assert not [name for name in names if name.startswith(("nvidia-", "cuda-", "triton"))]


def test_make_refuses_an_unknown_torch_choice():
    result = make_dry_run("TORCH=rocm")
    assert result.returncode != 0
    assert 'TORCH must be "default" or "cpu"' in result.stderr


def test_license_is_an_spdx_string():
    """The SPDX form; the older `{ text = ... }` table makes setuptools warn on every install."""
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text().splitlines()
