"""The package's layers, read from the imports of its source files: a lower layer never imports a higher one, no
module imports itself round a cycle, and a function-level import is of a third-party package, with a comment
saying why it is not at the top."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bumpdiff.common import paths

PACKAGE = paths.PACKAGE_DIR
LAYERS = ("common", "core", "analysis", "experiments", "store", "app")   # low to high


def module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path, package: Path) -> list[tuple[str, int, bool, bool]]:
    """``(imported bumpdiff module, line, inside a function, has a comment)`` for every import in ``path`` (third-party
    imports are returned as their own top-level name)."""
    here = module_name(path, package).split(".")
    is_pkg = path.name == "__init__.py"
    src = path.read_text()
    lines = src.splitlines()
    tree = ast.parse(src)
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                line = lines[child.lineno - 1]
                k = child.lineno - 2
                while k >= 0 and lines[k].strip().startswith(("import ", "from ")) and "#" not in lines[k]:
                    k -= 1   # the comment may head the block of imports this one belongs to
                heads = k >= 0 and "#" in lines[k] and lines[k].strip().startswith(("#", "import", "from"))
                commented = "#" in line or heads
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                elif child.level:
                    base = here if is_pkg else here[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                    names = [f"{mod}.{a.name}" for a in child.names]   # a name may be a submodule
                else:
                    names = [f"{child.module}.{a.name}" for a in child.names]
                out.extend((name, child.lineno, in_function, commented) for name in names)
            visit(child, inner)

    visit(tree, False)
    return out


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "bumpdiff" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def violations(package: Path) -> list[str]:
    """Every import of a higher layer by a lower one, in the package at ``package``."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        mine = layer_of(module_name(path, package))
        if mine is None:
            continue
        for name, line, _, _ in imports(path, package):
            theirs = layer_of(name)
            if theirs is not None and theirs > mine:
                where = f"{path.relative_to(package.parent)}:{line}"
                bad.append(f"{where} ({LAYERS[mine]}) imports {name} ({LAYERS[theirs]})")
    return bad


def graph(package: Path) -> dict[str, set[str]]:
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    edges = {}
    for mod, path in modules.items():
        targets = set()
        for name, *_ in imports(path, package):
            while name and name not in modules:   # `module.attribute` -> module
                name = name.rpartition(".")[0]
            if name and name != mod and not mod.startswith(name + ".") and name != "bumpdiff":
                targets.add(name)
        edges[mod] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), as a list of module names."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def test_no_lower_layer_imports_a_higher_one():
    assert violations(PACKAGE) == []


def test_every_module_lives_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert loose == [], "modules belong in one of the layer packages " + str(LAYERS)
    assert sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()) == sorted(LAYERS)
    for layer in LAYERS:   # each package says what belongs there and what it may import
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
        assert "import" in doc.lower(), f"bumpdiff/{layer}/__init__.py must say what it may import"


def test_every_module_has_one_job_and_stays_under_400_lines():
    long = {p.relative_to(PACKAGE).as_posix(): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}, "split these modules by job (CONTRIBUTING.md)"


def test_no_import_cycles():
    assert cycles(graph(PACKAGE)) == []


def test_function_level_imports_are_of_optional_packages_and_say_why():
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, line, in_function, commented in imports(path, PACKAGE):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} {name}"
            if in_function and name.startswith("bumpdiff") and path.name != "__init__.py":
                hidden.append(f"{where}: a bumpdiff import belongs at the top of the module")
            elif in_function and not commented:
                hidden.append(f"{where}: say in a comment why this import is not at the top")
    assert hidden == []


#: the notebooks that run a model (the explorer samples one, Figure 2 builds the UNet); every other notebook only reads
#: results and draws, and must start without torch (CONTRIBUTING.md, "Reading never imports torch")
MODEL_NOTEBOOKS = {"00_explore.ipynb", "02_model.ipynb"}


def _notebook_imports(nb: Path) -> list[str]:
    cells = json.loads(nb.read_text())["cells"]
    lines = [line.strip() for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return [line for line in lines if line.startswith(("import ", "from ")) and "bumpdiff" in line]


def test_notebooks_that_only_read_results_import_no_torch():
    readers = [nb for nb in sorted(paths.notebooks_dir().glob("*.ipynb")) if nb.name not in MODEL_NOTEBOOKS]
    assert len(readers) >= 10
    code = "\n".join(["import sys", *sorted({line for nb in readers for line in _notebook_imports(nb)}),
                      "print(sorted(m for m in ('torch', 'umap', 'sklearn', 'numba') if m in sys.modules))"])
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=paths.root()).stdout.strip()
    assert got == "[]", f"importing what the reading notebooks import loads {got}: move the import off the computing " \
                        "modules (CONTRIBUTING.md)"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "bumpdiff"
    for rel, text in files.items():
        p = pkg / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return pkg


@pytest.mark.parametrize("statement", ["from ..store import bundles", "from ..store.bundles import load_bundle",
                                       "import bumpdiff.app.cli", "from bumpdiff.experiments import registry"])
def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path, statement):
    pkg = _package(tmp_path, {"__init__.py": "", **{f"{layer}/__init__.py": "" for layer in LAYERS},
                              "core/model.py": f"{statement}\n", "store/bundles.py": "from ..core import model\n",
                              "app/cli.py": "", "experiments/registry.py": ""})
    bad = violations(pkg)
    assert len(bad) == 1 and "core/model.py:1 (core)" in bad[0]
    if "bundles" in statement:
        assert cycles(graph(pkg)) == [["bumpdiff.core.model", "bumpdiff.store.bundles"]]
