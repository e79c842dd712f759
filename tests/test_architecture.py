"""The house's shape, checked: no package reaches into another's private names.

The layering itself (tui apart from backend, domains only importing downward)
is import-linter's job (`.importlinter`, run by CI); this adds what it cannot
say: a name starting with `_` is private to the package that defines it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])  # backend.conversations, backend.app, tui.widgets ...


def private_imports() -> list[str]:
    found = []
    for top in ("backend", "tui"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text(), str(path))
            others = _imported_packages(tree, module)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    ours = node.module.split(".")[0] in ("backend", "tui")
                    if not ours or _package(node.module) == _package(module):
                        continue
                    for alias in node.names:
                        if alias.name.startswith("_"):
                            found.append(f"{module} imports {node.module}.{alias.name}")
                elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                    # actions._checked(...) on another package's object is the same reach-in
                    if isinstance(node.value, ast.Name) and node.value.id in others:
                        found.append(f"{module} uses {node.value.id}.{node.attr}")
    return found


def _imported_packages(tree: ast.Module, module: str) -> set[str]:
    """Names bound to other packages' modules by `from backend.x import y` or `import backend.x`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if target.split(".")[0] in ("backend", "tui") and _package(target) != _package(
                    module
                ):
                    names.add(alias.asname or alias.name)
    return names


def test_no_package_imports_another_packages_private_names():
    assert private_imports() == []
