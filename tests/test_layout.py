"""The layout's import rules: each subpackage imports only what lies below it, and report/
imports no torch, so that reports and the CI gate run where torch cannot be imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mobius_core"
# subpackage -> what it must never import (by module prefix)
FORBIDDEN = {
    "models": (
        "mobius_core.training",
        "mobius_core.measure",
        "mobius_core.run",
        "mobius_core.report",
    ),
    "training": ("mobius_core.measure", "mobius_core.run", "mobius_core.report"),
    "measure": ("mobius_core.run", "mobius_core.report"),
    "report": (
        "torch",
        "mobius_core.models",
        "mobius_core.training",
        "mobius_core.run",
        "mobius_core.options",
        "mobius_core.measure.",  # but measure.results, checked below
    ),
}
ALLOWED = ("mobius_core.measure.results", "mobius_core.measure.stats")  # both torch-free
MAX_LINES = 300


def imports(path: Path) -> list[str]:
    """Every module `path` imports, at any depth (lazy imports inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _under(name: str, prefix: str) -> bool:
    """Whether module `name` is `prefix` or lies inside it (`measure.` means inside only)."""
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def breaches(package: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        for name in imports(path):
            forbidden = [
                p for p in FORBIDDEN[package] if (name + ".").startswith(p.rstrip(".") + ".")
            ]
            if forbidden and name not in ALLOWED:
                found.append(f"{path.name} imports {name}")
    return found


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_subpackage_imports_only_what_lies_below(package: str) -> None:
    assert breaches(package) == []


def test_the_rule_catches_a_breach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report module that imports torch is found (the check is not vacuous)."""
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "bad.py").write_text("def f():\n    import torch.nn\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert breaches("report") == ["bad.py imports torch.nn"]


def test_report_modules_import_without_torch() -> None:
    """Every report module imports in a Python where `import torch` fails."""
    modules = [f"mobius_core.report.{p.stem}" for p in (PACKAGE / "report").glob("*.py")]
    code = (
        "import sys; sys.modules['torch'] = None\n"
        + "".join(f"import {m}\n" for m in modules)
        + "import mobius_core.cli as c; c.build_parser('compare'); c.build_parser('report')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_module_is_long() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
