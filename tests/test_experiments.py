"""The one-off scripts in docs/experiments/ still name the library as it is.

They take minutes of training or a browser each, so they are not run here; what drifts when the
library changes is what they import from it. Every `from tl_lessons... import name` (and every
`tl_lessons.module.name` they use after `from tl_lessons import module`) must exist.
"""
import ast
import importlib
from pathlib import Path

import pytest

EXPERIMENTS = sorted((Path(__file__).resolve().parent.parent / "docs" / "experiments").glob("*.py"))


def library_names(source: str) -> list[tuple[str, str]]:
    """(module, name) for every name a script takes from tl_lessons, directly or as module.attribute."""
    tree = ast.parse(source)
    names, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tl_lessons":
            for alias in node.names:
                names.append((node.module, alias.name))
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            names.append((modules[node.value.id], node.attr))
    return names


def has(module: str, name: str) -> bool:
    try:
        owner = importlib.import_module(module)
    except ImportError:
        return False
    if hasattr(owner, name):
        return True
    try:  # a submodule imported by name (`from tl_lessons import widgets`)
        importlib.import_module(f"{module}.{name}")
        return True
    except ImportError:
        return False


def test_there_are_experiments_to_check():
    assert len(EXPERIMENTS) >= 3


@pytest.mark.parametrize("script", EXPERIMENTS, ids=lambda path: path.name)
def test_an_experiment_imports_only_what_the_library_has(script):
    used = library_names(script.read_text(encoding="utf-8"))
    assert used, f"{script.name} uses nothing of the library: it belongs elsewhere"
    missing = [f"{module}.{name}" for module, name in used if not has(module, name)]
    assert missing == [], f"{script.name} uses names the library no longer has: {missing}"


def test_a_renamed_library_name_is_caught():
    assert library_names("from tl_lessons import train\ntrain.PRESETS\ntrain.no_such_thing\n") == [
        ("tl_lessons", "train"), ("tl_lessons.train", "PRESETS"), ("tl_lessons.train", "no_such_thing")]
    assert not has("tl_lessons.train", "no_such_thing") and has("tl_lessons.train", "PRESETS")
