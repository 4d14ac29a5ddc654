"""The package layout as docs/ARCHITECTURE.md draws it: imports only go down, never sideways or up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "tessera"

# Lower ranks are imported by higher ones, never the other way; equal ranks do not import each other.
RANK = {
    "core": 0,
    "catalog": 1,
    "consent": 2,
    "indexer": 3,
    "crawlers": 4,
    "taxonomy": 5,
    "search": 6,
    "datasets": 7,
    "accounts": 8,
    "compose": 9,
    "api": 10,
    "cli": 11,  # `tessera serve` starts the API
}
TOP = {"__init__", "__version__", "frontend"}  # the package's version string; static files


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a tessera module, including imports inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("tessera"):
            base = node.module
            out += [(node.lineno, f"{base}.{a.name}" if base == "tessera" else base) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("tessera")]
    return out


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in TOP or rel.parts[0] == "__init__.py":
            continue
        here = rel.parts[0].removesuffix(".py")
        if here not in RANK:
            bad.append(f"{rel}: package {here!r} has no place in the layout (add it to RANK and ARCHITECTURE.md)")
            continue
        for line, module in _imports(path):
            there = _package(module)
            if there in TOP or there == here:
                continue
            if there not in RANK:
                bad.append(f"{rel}:{line} imports {module}, which has no place in the layout")
            elif RANK[there] >= RANK[here]:
                way = "sideways" if RANK[there] == RANK[here] else "upward"
                bad.append(f"{rel}:{line} imports {module} ({way}: {here} -> {there})")
    return bad


def test_imports_only_go_down() -> None:
    assert violations() == []


def test_the_rule_catches_an_upward_and_a_sideways_import(tmp_path: Path) -> None:
    pkg = tmp_path / "tessera"
    for name, body in {"core/a.py": "from tessera.catalog.store import Catalog\n",
                       "crawlers/b.py": "def f():\n    from tessera.crawlers.x import y\n"
                                        "    from tessera.taxonomy import z\n",
                       "search/d.py": "import tessera.search.query\nfrom tessera.taxonomy import models\n",
                       "consent/e.py": "from tessera.catalog.models import AudioFile\n",
                       "indexer/c.py": "from tessera.core.errors import NotFound\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    found = violations(pkg)
    assert len(found) == 2, found
    assert any("upward: core -> catalog" in f for f in found)
    assert any("upward: crawlers -> taxonomy" in f for f in found)
    (pkg / "indexer" / "f.py").write_text("from tessera.indexer.g import h\nfrom tessera.crawlers import x\n")
    assert any("upward: indexer -> crawlers" in f for f in violations(pkg))
    (pkg / "taxonomy" / "s.py").parent.mkdir(parents=True, exist_ok=True)
    (pkg / "taxonomy" / "s.py").write_text("from tessera.taxonomy.models import m\n")
    (pkg / "accounts" / "t.py").parent.mkdir(parents=True, exist_ok=True)
    (pkg / "accounts" / "t.py").write_text("")
    (pkg / "api" / "u.py").parent.mkdir(parents=True, exist_ok=True)
    (pkg / "api" / "u.py").write_text("")
    (pkg / "cli" / "v.py").parent.mkdir(parents=True, exist_ok=True)
    (pkg / "cli" / "v.py").write_text("")
    (pkg / "api" / "w.py").write_text("from tessera.cli import app\n")
    assert any("upward: api -> cli" in f for f in violations(pkg))


@pytest.mark.parametrize("package", sorted(p for p in RANK if p not in ("compose",)))
def test_every_package_is_documented(package: str) -> None:
    doc = (ROOT.parent / "docs" / "ARCHITECTURE.md").read_text()
    assert f"`{package}/`" in doc
