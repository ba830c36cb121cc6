"""Which modules a package's source files import, read from their syntax trees: the dependency-direction tests
(projects below the other apps, charts a leaf) check the code as written, imports inside functions included."""

import ast
from pathlib import Path


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from ... import` names, at any depth (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imports_of(package_dir: Path, forbidden: tuple[str, ...]) -> list[str]:
    """`file: module` for every import under `package_dir` of a module in `forbidden` or inside one of them."""
    return [
        f"{path.relative_to(package_dir)}: {name}"
        for path in sorted(package_dir.rglob("*.py"))
        for name in sorted(imported_modules(path.read_text()))
        if any(name == package or name.startswith(f"{package}.") for package in forbidden)
    ]
