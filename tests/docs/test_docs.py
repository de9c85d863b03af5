"""The docs stay true: every example runs, every built-in kind is documented.

How code blocks in README.md and docs/*.md are checked (the convention for doc writers):

- A ```` ```python ```` block is a complete program. It runs in a fresh interpreter, in a scratch
  directory where ``docs/`` and ``../shared/`` resolve as from the repository root (so paths
  like ``docs/examples/welcome.yaml`` work), with ``GRAPHFLOW_DATABASE_URL`` unset (``Engine()``
  makes ``./graphflow.db`` in the scratch directory; prefer ``Engine("memory://")``), and a 60 s
  timeout. Top-level ``await`` / ``async with`` are allowed, as in ``python -m asyncio``.
- A ```` ```yaml ```` block is a ``kind: WorkflowGraph`` config (it must load and validate) or a
  list of nodes (each must be a known kind whose fields validate).
- A deliberate fragment (it uses names defined elsewhere, or a node kind the page defines in
  Python) gets the line ``<!-- docs-test: fragment -->`` just before its fence: it is only parsed
  (Python must compile, YAML must parse), never run.
- A Python block preceded by ``<!-- docs-test: pytest -->`` is a test module: it is written to a
  file in the scratch directory and run with ``python -m pytest`` there, through graphflow's
  pytest plugin (its fixtures: ``graphflow_harness``…); every test in it must pass. The page's
  blocks preceded by ``<!-- docs-test: conftest -->`` become that directory's ``conftest.py``
  (and are run as plain programs too: they must import cleanly).
- Pages in sub-folders (``docs/tutorial/``, ``docs/howto/``…) are checked like the others, and more:
  a ``bash``/``console`` block preceded by ``<!-- docs-test: shell -->`` runs with ``bash -euo
  pipefail`` in the scratch directory (``graphflow`` on the ``PATH``); in every other one, each
  ``graphflow …`` command line must parse with the real CLI parser. ``ini`` blocks (systemd
  units) must parse, ``dockerfile`` blocks use only Dockerfile instructions, ``toml`` and
  ``json`` blocks must parse.
- A block preceded by ``<!-- docs-test: file NAME -->`` is written to ``NAME`` in the scratch
  directory before any block of the same page runs (the file a tutorial tells you to save).
- Other fences (``bash``, ``text``, ``toml``, ``json``…) are not checked.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import graphflow
from graphflow.nodes.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FRAGMENT = "<!-- docs-test: fragment -->"
PYTEST = "<!-- docs-test: pytest -->"
CONFTEST = "<!-- docs-test: conftest -->"
SHELL = "<!-- docs-test: shell -->"
FILE = re.compile(r"<!-- docs-test: file (?P<name>[\w.-]+) -->")
#: Sub-folders of docs/ whose pages get the stricter checks (shell, ini, dockerfile, toml, json).
STRICT = ("tutorial", "concepts", "howto", "reference")

PAYLOADS = {
    "welcome.yaml": ("thread.member_joined", {"thread_id": "thr_1", "user_id": "usr_9", "user": {"name": "Ada"}}),
    "order-review.yaml": ("order.received", {"customer_id": "vip_7", "lines": [{"qty": 2, "price": 100}]}),
}

# Runs one block: top-level await allowed (the block is then a coroutine run on asyncio).
RUNNER = """\
import ast, asyncio, inspect, sys
name, source = sys.argv[1], sys.stdin.read()
code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
namespace = {"__name__": "__main__"}
if code.co_flags & inspect.CO_COROUTINE:
    asyncio.run(eval(code, namespace))
else:
    exec(code, namespace)
"""


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language, its text and whether it is a fragment."""

    file: str
    line: int
    language: str
    code: str
    fragment: bool
    marker: str = ""

    @property
    def pytest_module(self) -> bool:
        return self.marker == PYTEST

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<language>[\w+-]*)\s*$")


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file (fences may be indented, as in list items)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks and lines[j].startswith(indent)),
            None,
        )
        assert end is not None, f"{path.name}:{i + 1}: a fence that never closes"
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        code = textwrap.dedent("\n".join(lines[i + 1 : end])) + "\n"
        name = str(path.relative_to(ROOT))
        found.append(Block(name, i + 1, opening["language"].lower(), code, before == FRAGMENT, before))
        i = end + 1
    return found


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def checked(*languages: str) -> list[Block]:
    return [block for path in doc_files() for block in blocks(path) if block.language in languages]


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A scratch working directory where ``docs/`` and ``../shared/`` resolve as from the repo root."""
    work = tmp_path / "repo"
    work.mkdir()
    (work / "docs").symlink_to(DOCS, target_is_directory=True)
    (work / "schemas").symlink_to(ROOT / "schemas", target_is_directory=True)
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared", target_is_directory=True)
    return work


def _page_files(block: Block, sandbox: Path) -> None:
    """Write the page's ``docs-test: file`` blocks into the sandbox."""
    for other in blocks(ROOT / block.file):
        named = FILE.fullmatch(other.marker)
        if named:
            (sandbox / named["name"]).write_text(other.code, encoding="utf-8")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("block", checked("python", "py"), ids=lambda b: b.where)
def test_python_blocks_run(block: Block, sandbox: Path) -> None:
    compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if block.fragment:
        return
    _page_files(block, sandbox)
    env = {k: v for k, v in os.environ.items() if k != "GRAPHFLOW_DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if block.pytest_module:
        return  # run with the page's other test modules by test_pytest_modules_pass
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, block.where],
        input=block.code,
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.where}: the block failed (mark a deliberate fragment with {FRAGMENT!r}):\n{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize("block", checked("yaml", "yml"), ids=lambda b: b.where)
def test_yaml_blocks_load(block: Block) -> None:
    data = yaml.safe_load(block.code)
    if block.fragment:
        return
    if isinstance(data, dict) and data.get("kind") == "WorkflowGraph":
        graphflow.load_graph(block.code)
    elif isinstance(data, list) and data and all(isinstance(item, dict) and "kind" in item for item in data):
        for item in data:
            cls = default_registry.get(item["kind"])
            assert cls is not None, f"{block.where}: unknown node kind {item['kind']!r} (or mark it {FRAGMENT!r})"
            cls.model_validate(item)
    else:
        pytest.fail(f"{block.where}: neither a WorkflowGraph nor a list of nodes; mark it {FRAGMENT!r}")


def test_every_fence_is_closed_and_uses_three_backticks() -> None:
    for path in doc_files():
        blocks(path)  # asserts every fence closes
        text = path.read_text(encoding="utf-8")
        two = re.findall(r"^[ \t]*``(?!`)\w+\s*$", text, re.MULTILINE)
        assert not two, f"{path.name}: fences with two backticks do not render as code: {two}"


@pytest.mark.parametrize("path", sorted((DOCS / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate_and_run(path: Path) -> None:
    graph = graphflow.load_graph(path)
    assert path.name in PAYLOADS, f"add a payload for {path.name} to this test"
    trigger, payload = PAYLOADS[path.name]
    result = graphflow.run_graph_sync(graph, {"trigger": trigger, "payload": payload})
    assert result.status == "completed", result.error


def test_every_builtin_kind_is_documented() -> None:
    text = (DOCS / "nodes.md").read_text()
    for kind in default_registry.builtin_kinds():
        assert f"## {kind}" in text, kind


def test_the_concepts_page_lists_every_builtin_kind() -> None:
    text = (DOCS / "concepts" / "nodes.md").read_text()
    for kind in default_registry.builtin_kinds():
        assert f"| `{kind}` |" in text, kind


def test_readme_starts_with_setup_and_test_command() -> None:
    readme = (DOCS.parent / "README.md").read_text().splitlines()
    head = "\n".join(readme[:15])
    assert "pip install -e '.[dev]'" in head and "python -m pytest" in head and "graphflow run" in head
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci


def test_readme_engine_example_waits_for_a_completed_run() -> None:
    engine_block = next(b for b in checked("python") if b.file == "README.md" and "Engine(" in b.code)
    assert "wait_for_run" in engine_block.code and not engine_block.fragment


def _pages_with_test_modules() -> list[Path]:
    return [path for path in doc_files() if any(block.pytest_module for block in blocks(path))]


@pytest.mark.parametrize("page", _pages_with_test_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pytest_modules_pass(page: Path, sandbox: Path) -> None:
    """A page's ``docs-test: pytest`` blocks, each a test module, in one pytest run through the plugin."""
    found = blocks(page)
    modules = [block for block in found if block.pytest_module]
    for block in modules:
        (sandbox / f"test_docs_block_{block.line}.py").write_text(block.code, encoding="utf-8")
    conftest = [block.code for block in found if block.marker == CONFTEST]
    (sandbox / "conftest.py").write_text("\n\n".join(conftest), encoding="utf-8")
    _page_files(modules[0], sandbox)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            *(f"test_docs_block_{b.line}.py" for b in modules),
        ],
        cwd=sandbox,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{page.name}: a test module failed:\n{done.stdout[-5000:]}"
    for block in modules:  # every module ran at least one test, and it passed
        assert f"PASSED test_docs_block_{block.line}.py::" in done.stdout, f"{block.where}: no test passed"
    assert "SKIPPED" not in done.stdout, done.stdout[-2000:]


def _strict_blocks(*languages: str) -> list[Block]:
    pages = [path for folder in STRICT for path in sorted((DOCS / folder).glob("*.md"))]
    pages.append(ROOT / "examples" / "README.md")
    return [block for path in pages for block in blocks(path) if block.language in languages]


def _command_lines(code: str) -> list[list[str]]:
    """Every ``graphflow …`` command in a shell block, as argv (pipes, ``;``, ``&`` and redirections end it)."""
    joined = code.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        line = line.removeprefix("$ ")
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for start, token in enumerate(tokens):
            if token == "graphflow" and (start == 0 or tokens[start - 1] in {"|", "&&", ";", "||", "$(", "("}):
                argv = []
                for arg in tokens[start + 1 :]:
                    if arg in {"|", "&&", ";", "||", "&", ">", ">>", "<", ")"}:
                        break
                    argv.append(arg)
                commands.append(argv)
    return commands


@pytest.mark.parametrize("block", _strict_blocks("bash", "console", "sh", "shell"), ids=lambda b: b.where)
def test_shell_blocks(block: Block, sandbox: Path) -> None:
    if block.marker == SHELL:
        _page_files(block, sandbox)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=sandbox,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (
            f"{block.where}: the commands failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
        return
    from graphflow.cli.parser import build_parser

    for argv in _command_lines(block.code):
        try:
            build_parser(argv).parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, None), f"{block.where}: 'graphflow {shlex.join(argv)}' does not parse"


def test_command_lines_are_found() -> None:
    found = _command_lines("graphflow run a.yaml -t x  # comment\nX=$(graphflow create config -f g.yaml --json | jq)")
    assert found == [["run", "a.yaml", "-t", "x"], ["create", "config", "-f", "g.yaml", "--json"]]


@pytest.mark.parametrize("block", _strict_blocks("ini"), ids=lambda b: b.where)
def test_ini_blocks_parse(block: Block) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(block.code)
    assert parser.sections(), f"{block.where}: no section"


_DOCKERFILE = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


@pytest.mark.parametrize("block", _strict_blocks("dockerfile"), ids=lambda b: b.where)
def test_dockerfile_blocks_use_dockerfile_instructions(block: Block) -> None:
    lines = block.code.replace("\\\n", " ").splitlines()
    instructions = [line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert instructions and instructions[0] in {"FROM", "ARG"}, f"{block.where}: must start with FROM"
    assert set(instructions) <= _DOCKERFILE, f"{block.where}: {set(instructions) - _DOCKERFILE}"


@pytest.mark.parametrize("block", _strict_blocks("toml", "json"), ids=lambda b: b.where)
def test_toml_and_json_blocks_parse(block: Block) -> None:
    if block.fragment:
        return
    if block.language == "toml":
        tomllib.loads(block.code)
    else:
        json.loads(block.code)
