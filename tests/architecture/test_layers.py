"""The code's shape: one-way imports, the import-linter contract covering every module, and
modules and functions small enough to read."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("syston", "api", "workflows", "activities", "integrations", "emulators")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _contract(name_prefix: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["name"].startswith(name_prefix))


def _layers() -> list[list[str]]:
    """The layers contract, top first, each layer as its list of modules."""
    layers = _contract("Layers")["layers"]
    assert isinstance(layers, list)
    return [[m.strip() for m in layer.replace("|", ":").split(":")] for layer in layers]


def _modules_of(package: str) -> list[str]:
    """Every importable module under a package (or the module itself)."""
    path = ROOT / package.replace(".", "/")
    if path.with_suffix(".py").is_file():
        return [package]
    found = []
    for file in sorted(path.rglob("*.py")):
        # Alembic's scripts run only inside Alembic; `__main__` runs the command.
        alembic_script = "migrations" in file.parts and file.name != "__init__.py"
        if alembic_script or file.name == "__main__.py":
            continue
        parts = file.relative_to(ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_domain_module_is_in_the_layers_contract() -> None:
    """A new module in syston/ must be placed in a layer, or import-linter would not check it."""
    named = {module for layer in _layers() for module in layer}
    top_level = {
        f"syston.{p.stem}" for p in (ROOT / "syston").glob("*.py") if p.stem != "__init__"
    } | {f"syston.{p.name}" for p in (ROOT / "syston").iterdir() if (p / "__init__.py").is_file()}
    assert sorted(top_level - named) == []


def _loaded_by_importing(modules: list[str]) -> list[str]:
    """Every module a fresh interpreter has loaded after importing `modules`."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("depth", range(1, 6))
def test_importing_a_layer_loads_nothing_from_the_layers_above(depth: int) -> None:
    layers = _layers()
    above = [m for layer in layers[:depth] for m in layer]
    below = [m for layer in layers[depth:] for m in layer]
    loaded = _loaded_by_importing([m for package in below for m in _modules_of(package)])
    leaked = [m for m in loaded if any(m == a or m.startswith(a + ".") for a in above)]
    assert leaked == [], f"importing {below} loaded {leaked}"


def test_nothing_below_the_command_imports_the_worker_root() -> None:
    modules = [m for package in SOURCE_PACKAGES for m in _modules_of(package)]
    modules = [m for m in modules if not m.startswith("syston.cli")]
    assert "worker" not in _loaded_by_importing(modules)


def _source_files() -> list[Path]:
    files = [ROOT / "worker.py"]
    for package in SOURCE_PACKAGES:
        files += [p for p in (ROOT / package).rglob("*.py") if "versions" not in p.parts]
    return files


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in _source_files()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}


def test_functions_stay_short() -> None:
    long = {}
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = length
    assert long == {}


def test_the_readme_code_map_names_real_files() -> None:
    """Every path and module the README's code map names exists; every layer folder is named."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Code map", 1)[1].split("\n## ", 1)[0]
    cells = section.split("`")[1::2]
    paths = [c for c in cells if "/" in c and " " not in c and "*" not in c]
    modules = [c.split()[-1] for c in cells if c.endswith(".py") and "/" not in c]
    assert paths and modules, "the code map names no paths"
    existing = {p.name for p in _source_files()}
    missing = [c for c in paths if not any((ROOT / d / c).exists() for d in ("", "api", "syston"))]
    missing += [c for c in modules if c not in existing]
    assert missing == []
    for folder in ("syston/cli/", "syston/core/", "api/", "workflows/", "activities/"):
        assert f"`{folder}`" in section
