"""The pure cores (proto, auth, message, policy) never import I/O machinery."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "postoffice"
PURE = ("proto", "auth", "message", "policy", "sieve")
FORBIDDEN = {"asyncio", "socket", "ssl", "sqlite3", "selectors", "dns", "asyncpg", "psycopg",
             "subprocess", "postoffice.storage", "postoffice.server", "postoffice.app"}


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ".".join(("postoffice",) + path.relative_to(SRC).parent.parts)
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_io(package: str) -> None:
    files = list((SRC / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offenders = []
    for path in files:
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert not offenders, "\n".join(offenders)
