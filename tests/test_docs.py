"""The docs against the code: what README.md and docs/*.md name must exist and say what the code does.

A command, a module or a signature in prose is a claim about the code, and it drifts the day the code
changes. These tests read the claims out of the Markdown and ask the code: every `make` target and
`python -m tl_lessons` command parses, every `module.name` and path exists, ARCHITECTURE's strategy
table, signatures, module list and environment variables are the code's. They read source files and
parse arguments; nothing trains. (docs/experiments/ holds one-off scripts and is not checked here.)
The library's docstring examples are claims too: `make test` runs every one (`--doctest-modules`), and
the last tests here check that none is skipped and that they are all still there.
"""
import ast
import doctest
import importlib
import re
from pathlib import Path

import pytest

from tl_lessons import transfer
from tl_lessons.__main__ import parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
LIBRARY = ROOT / "tl_lessons"


def code_in(path: Path) -> list[str]:
    """The code a Markdown file shows: each fenced block's lines and each `inline` span (which may wrap)."""
    text = path.read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.S | re.M)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [line for block in blocks for line in block.splitlines()] + spans


def commands(prefix: str, docs=DOCS) -> list[tuple[str, list[str]]]:
    """(file name, the words after `prefix`) for every line or span of the docs' code that starts with `prefix`
    (after environment settings such as `TL_LESSONS_DATA=/tmp/standin`)."""
    found = []
    for path in docs:
        for code in code_in(path):
            match = re.match(r"(?:[A-Z_]+=\S+ )*" + re.escape(prefix) + r"((?: [^ ;|&#`)]+)+)", code.strip())
            if match:
                found.append((path.name, match.group(1).split()))
    return found


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------

def makefile_targets_and_variables() -> tuple[set[str], set[str]]:
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.M))
    variables = set(re.findall(r"^([A-Z_]+)\s*[?:]?=", text, re.M))
    return targets, variables


def wrong_make_commands(docs=DOCS) -> list[str]:
    """`make TARGET VARIABLE=value ...` uses whose target or variable the Makefile does not have."""
    targets, variables = makefile_targets_and_variables()
    wrong = []
    for name, (target, *rest) in commands("make", docs):
        if target not in targets:
            wrong.append(f"{name}: make {target} (the Makefile has no target {target!r})")
        for word in rest:
            if "=" not in word:
                break  # the command ended; a sentence goes on
            if word.split("=")[0] not in variables:
                wrong.append(f"{name}: make {target} {word} ({word.split('=')[0]} is not a variable of the Makefile)")
    return wrong


def wrong_tl_lessons_commands(docs=DOCS) -> list[str]:
    """`python -m tl_lessons ...` uses that the command line's parser refuses."""
    wrong = []
    for name, words in commands("python -m tl_lessons", docs):
        if any("<" in word or word == "--help" for word in words):
            continue  # a placeholder, or the help itself
        try:
            parser().parse_args(words)
        except SystemExit:
            wrong.append(f"{name}: python -m tl_lessons {' '.join(words)}")
    return wrong


def test_the_readme_opens_with_make_app_and_make_test():
    first_block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == ["make app", "make test"]


def test_every_make_target_the_docs_name_is_in_the_makefile():
    assert [words for name, words in commands("make") if name == "README.md"][:2] == [["app"], ["test"]]
    wrong = wrong_make_commands()
    assert not wrong, "\n".join(wrong)


def test_every_python_m_tl_lessons_command_the_docs_name_parses():
    assert ["data", "status"] in [words for _, words in commands("python -m tl_lessons")]
    wrong = wrong_tl_lessons_commands()
    assert not wrong, "these do not parse (`python -m tl_lessons --help` lists the commands):\n" + "\n".join(wrong)


@pytest.mark.parametrize("fake, check", [("python -m tl_lessons data standin /tmp/standin", wrong_tl_lessons_commands),
                                         ("make standin", wrong_make_commands),
                                         ("make app HOST=0.0.0.0", wrong_make_commands)])
def test_a_command_the_kit_does_not_have_is_caught(fake, check, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text() + f"\nRun `{fake}` first.\n")
    assert check([ROOT / "README.md"]) == []
    assert len(check([readme])) == 1


def test_every_module_run_with_python_m_has_a_command_line():
    wrong = []
    for name, code in ((path.name, code) for path in DOCS for code in code_in(path)):
        for module in re.findall(r"python -m (tl_lessons\.[\w.]+)", code):
            source = ROOT / (module.replace(".", "/") + ".py")
            if not source.is_file() or 'if __name__ == "__main__":' not in source.read_text():
                wrong.append(f"{name}: python -m {module}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------------------
# Names and paths
# ---------------------------------------------------------------------------------------

def module_files() -> dict[str, Path]:
    """Every library module by its dotted name under tl_lessons ("dashboard.jobs") and by its last part ("jobs")."""
    found = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = path
            found.setdefault(parts[-1], path)
    return found


def top_level_names(path: Path) -> dict[str, set[str]]:
    """{name: its members} for what a module defines, assigns or imports at its top level (members: of classes)."""
    names = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {sub.name for sub in node.body if isinstance(sub, ast.FunctionDef)} | {
                target.id for sub in node.body if isinstance(sub, (ast.Assign, ast.AnnAssign))
                for target in (sub.targets if isinstance(sub, ast.Assign) else [sub.target])
                if isinstance(target, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = set()
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update({n.id: set() for n in ast.walk(target) if isinstance(n, ast.Name)})
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(alias.asname or alias.name).split(".")[0]: set() for alias in node.names})
    return names


FILE_EXTENSIONS = {"py", "md", "json", "pt", "sqlite", "toml", "txt", "cfg", "yml", "svg", "csv", "ipynb", "lock", "png"}


def test_every_module_name_the_docs_name_exists():
    modules = module_files()
    wrong = []
    for path in DOCS:
        for code in code_in(path):
            for dotted in re.findall(r"(?<![\w/.-])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", code):
                parts = dotted.removeprefix("tl_lessons.").split(".")
                if parts[-1] in FILE_EXTENSIONS:
                    continue  # a file's name, not a module's attribute
                for cut in range(len(parts), 0, -1):
                    module = ".".join(parts[:cut])
                    if module in modules:
                        names = top_level_names(modules[module])
                        if cut == len(parts):
                            break  # a module named whole
                        name, *member = parts[cut:]
                        if name not in names:
                            wrong.append(f"{path.name}: {dotted} ({name} is not in {module})")
                        elif member and names[name] and member[0] not in names[name]:
                            wrong.append(f"{path.name}: {dotted} ({member[0]} is not in {module}.{name})")
                        break
    assert not wrong, "\n".join(wrong)


def test_every_file_of_the_repository_the_docs_name_exists():
    wrong = []
    for path in DOCS:
        for code in code_in(path):
            for named in re.findall(r"(?<![\w/.-])((?:tl_lessons|tests|docs|notebooks|app_pages|\.ci|\.streamlit)/[\w./-]*)",
                                    code):
                named = named.rstrip(".")
                pattern = named.replace("NN", "[0-9][0-9]")
                if not any(ROOT.glob(pattern)) and not (ROOT / named).exists():
                    wrong.append(f"{path.name}: {named}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------------------
# ARCHITECTURE's tables and signatures
# ---------------------------------------------------------------------------------------

def architecture_section(heading: str) -> str:
    return ARCHITECTURE.read_text().split(heading, 1)[1]


def test_architectures_strategy_table_is_strategy_table():
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \| (yes|no) \| ([\d.]+) \|$",
                      architecture_section("### transfer.py"), re.M)
    assert [name for name, *_ in rows] == list(transfer.STRATEGY_TABLE)
    for name, options, scheduled, lr in rows:
        row = transfer.STRATEGY_TABLE[name]
        said = tuple(option.strip() for option in options.split(",")) if options.strip() != "—" else ()
        assert (said, scheduled == "yes", float(lr)) == (row.options, row.scheduled, row.lr), name


def parameters(function: ast.FunctionDef) -> list[str]:
    """A function's parameters as written in a signature: "name" or "name=default" (self left out)."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    written = [arg.arg + (f"={ast.unparse(default)}" if default else "") for arg, default in zip(positional, defaults)]
    if args.vararg:
        written.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        written.append("*")
    written += [arg.arg + (f"={ast.unparse(default)}" if default else "")
                for arg, default in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        written.append("**" + args.kwarg.arg)
    return [name for name in written if name != "self"]


def signatures_in_code(path: Path) -> dict[str, list[str]]:
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = parameters(node)
        elif isinstance(node, ast.ClassDef):
            found.update({f"{node.name}.{sub.name}": parameters(sub) for sub in node.body
                          if isinstance(sub, ast.FunctionDef)})
    return found


def signatures_in_architecture():
    """(module file, "name" or "Class.name", the parameters ARCHITECTURE writes) for its `def` lines."""
    for section in re.split(r"^### ", ARCHITECTURE.read_text(), flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        if not title.endswith(".py"):
            continue
        for block in re.findall(r"```python\n(.*?)```", section, re.S):
            block = re.sub(r"#[^\n]*", "", block)
            for match in re.finditer(r"(?:\bdef |; )([A-Za-z_]\w*)\(", block):
                depth, end = 1, match.end()
                while depth:
                    depth += {"(": 1, ")": -1}.get(block[end], 0)
                    end += 1
                line_start = block.rfind("\n", 0, match.start()) + 1
                classes = re.findall(r"^class (\w+)", block[:match.start()], re.M)
                name = match.group(1)
                if block[line_start:match.start()].startswith(" ") and classes:
                    name = f"{classes[-1]}.{name}"
                written = " ".join(block[match.end():end - 1].split())
                yield title, name, parameters(ast.parse(f"def f({written}): pass").body[0])


def same_signature(written: list[str], code: list[str]) -> bool:
    """Whether ARCHITECTURE wrote the code's parameters ("width=..." stands for any default of width)."""
    return len(written) == len(code) and all(
        w == c or (w.endswith("=...") and c.startswith(w[:-3])) for w, c in zip(written, code))


def test_architectures_signatures_are_the_codes():
    wrong = []
    for title, name, written in signatures_in_architecture():
        code = signatures_in_code(LIBRARY / title)
        if name not in code:
            wrong.append(f"{title}: {name} is not defined there")
        elif not same_signature(written, code[name]):
            wrong.append(f"{title}: {name}({', '.join(written)}) is {name}({', '.join(code[name])}) in the code")
    assert not wrong, "\n".join(wrong)


def test_architecture_lists_every_module():
    tree = architecture_section("## Every module and its one job").split("```")[1]
    listed, folders = set(), []
    for line in tree.splitlines():
        match = re.match(r"( *)(\S+(?:\.py|\.svg|/))(?:\s|$)", line)
        if not match:
            continue
        indent, name = len(match.group(1)), match.group(2)
        folders = [(depth, folder) for depth, folder in folders if depth < indent]
        path = "".join(folder for _, folder in folders) + name
        listed.add(path.rstrip("/"))
        if name.endswith("/"):
            folders.append((indent, name))
    missing = sorted(path for path in listed if not (ROOT / path).exists())
    assert not missing, f"ARCHITECTURE lists files that do not exist: {missing}"
    modules = {str(path.relative_to(ROOT)) for path in LIBRARY.rglob("*.py") if path.name != "__init__.py"}
    unlisted = sorted(modules - listed)
    assert not unlisted, f"ARCHITECTURE does not say what these modules do: {unlisted}"


def test_architecture_lists_every_environment_variable():
    table = architecture_section("## Environment variables").split("\n## ", 1)[0]
    listed = set(re.findall(r"TL_LESSONS_[A-Z_]+[A-Z]", table))
    used = set()
    for folder in ("tl_lessons", "app_pages", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"TL_LESSONS_[A-Z_]+[A-Z]", path.read_text()))
    assert listed == used, f"only in ARCHITECTURE: {sorted(listed - used)}; only in the code: {sorted(used - listed)}"


# ---------------------------------------------------------------------------------------
# The docstrings' examples
# ---------------------------------------------------------------------------------------

# How many `>>>` examples the library's docstrings held when every one of them first ran (939), less a
# margin: removing a few is an edit, losing many is a docstring pass gone wrong.
EXAMPLES_AT_LEAST = 880


def skipped_examples(root: Path = LIBRARY) -> list[str]:
    """file:line of every `# doctest: +SKIP` under `root`: an example that is never run is a claim that drifts."""
    return [f"{path.relative_to(root.parent)}:{number}" for path in sorted(root.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if re.search(r"doctest:[^\n]*\+SKIP", line)]


def library_modules() -> list[str]:
    """Every module whose docstrings `pytest tl_lessons --doctest-modules` runs, by its import name
    (packages included; `__main__` is left out, as pytest leaves it out)."""
    names = []
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] != "__main__":
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def docstring_examples() -> int:
    """How many `>>>` examples the library's docstrings hold, found as pytest finds them (doctest's finder)."""
    finder = doctest.DocTestFinder()
    return sum(len(test.examples) for name in library_modules()
               for test in finder.find(importlib.import_module(name)))


def test_no_docstring_example_is_skipped():
    skipped = skipped_examples()
    assert not skipped, ("run these examples (a small runnable one, on synthetic data, say) or write them as "
                         "prose without `>>>`; a skip passes for a check it is not:\n" + "\n".join(skipped))


def test_a_skipped_example_is_caught(tmp_path):
    (tmp_path / "lesson.py").write_text('def twice(x):\n    """>>> twice(2)  # doctest: +SKIP\n    4\n    """\n')
    assert skipped_examples(tmp_path) == [f"{tmp_path.name}/lesson.py:2"]


def test_the_docstrings_hold_their_examples():
    assert docstring_examples() >= EXAMPLES_AT_LEAST


def test_make_test_and_test_fast_run_the_docstring_examples():
    recipes = dict(re.findall(r"^([\w-]+):.*\n\t(.*)", (ROOT / "Makefile").read_text(), re.M))
    for target in ("test", "test-fast", "test-package"):
        assert "tl_lessons --doctest-modules" in recipes[target], f"make {target} leaves out the docstrings' examples"
