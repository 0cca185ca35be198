"""The rules of the layout (docs/design.md) that import-linter does not check itself.

`make lint` runs import-linter for the layers contract and the absence of import cycles;
these tests hold the rest: no private name crosses a module boundary, an import inside a
function is a lazy load of a heavy dependency that says why, and the diagram in
docs/design.md is the contract in pyproject.toml.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LINTER = PYPROJECT["tool"]["importlinter"]
PACKAGES: list[str] = LINTER["root_packages"]
LAZY = re.compile(r"#\s*lazy:\s*\S")


def python_files(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py"))


def source_files() -> list[Path]:
    return python_files(*PACKAGES)


def test_the_contract_names_every_package_of_the_distribution() -> None:
    shipped = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = sorted({name.split(".")[0].rstrip("*") for name in shipped})
    assert tops == sorted(PACKAGES)
    assert sorted(PYPROJECT["tool"]["mypy"]["packages"]) == sorted(PACKAGES)
    layers = next(c for c in LINTER["contracts"] if c["id"] == "layers")["layers"]
    assert sorted(p.strip() for layer in layers for p in layer.split("|")) == sorted(PACKAGES)


def test_no_module_imports_a_private_name() -> None:
    found = []
    for path in [*source_files(), *python_files("tests", "bench")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}")
    assert not found, "private names imported from another module:\n" + "\n".join(found)


def nested_imports(path: Path) -> list[tuple[int, str]]:
    """(line, import) of every import written inside a function of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.add((inner.lineno, ast.unparse(inner)))
    return sorted(found)


def test_an_import_inside_a_function_is_a_lazy_load_that_says_why() -> None:
    """Only heavy optional dependencies (GX, matplotlib, Faust) load lazily, each with a
    `# lazy: <reason>` comment on its line or the line above; the rest are at the top, where
    a reader sees a module's real dependencies."""
    found = []
    for path in source_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, text in nested_imports(path):
            here, above = lines[lineno - 1], lines[lineno - 2] if lineno > 1 else ""
            if not (LAZY.search(here) or LAZY.search(above)):
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {text}")
    assert not found, "imports inside functions without a `# lazy:` reason:\n" + "\n".join(found)


def test_the_checker_finds_an_unexplained_nested_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import json\n    return json\n", encoding="utf-8")
    assert nested_imports(module) == [(2, "import json")]


def diagram_layers() -> list[str]:
    """The layers drawn in docs/design.md's "Layers" block, top first."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    match = re.search(r"## Layers\n.*?```text\n(.*?)```", text, re.S)
    assert match, "docs/design.md has no ```text block under '## Layers'"
    layers = []
    for line in match.group(1).splitlines():
        packages = line.split("  ")[0].strip()
        if packages and not packages.startswith(("^", "|", "v")):
            layers.append(" | ".join(p.strip() for p in packages.split("|")))
    return layers


def test_the_design_doc_draws_the_layers_contract() -> None:
    contract = next(c for c in LINTER["contracts"] if c["id"] == "layers")["layers"]
    assert diagram_layers() == [" | ".join(p.strip() for p in c.split("|")) for c in contract]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_and_module_says_what_it_owns(package: str) -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in python_files(package)
        if path.read_text(encoding="utf-8").strip()
        and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert not missing, f"modules without a docstring: {missing}"
