"""The package's layout (README.md, "Where things live"): wings whose imports run one way, top to bottom, and
no module that imports itself back through others. Read from the source as text, imports inside functions
included, so a lazy import cannot hide an arrow that points up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cae_denoise"

#: Each layer may import its own and lower layers only (top first). ``__init__.py`` is the package's face
#: (its exports load lazily by name) and stands outside the order.
LAYERS = [
    ["__main__"],
    ["cli"],
    ["api", "denoising"],
    ["training"],
    ["evaluation"],
    ["models"],
    ["data"],
    ["noise"],
    ["io"],
    ["config", "shipped"],
    ["choices", "errors", "interrupts"],
]


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (absolute dotted names inside ``cae_denoise``)."""
    own = _module(path).split(".") if _module(path) else []
    base = own if path.name == "__init__.py" else own[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            anchor = base[: len(base) - (node.level - 1)]
            module = ".".join(anchor + (node.module.split(".") if node.module else []))
            for alias in node.names:
                candidate = f"{module}.{alias.name}" if module else alias.name
                found.add(candidate if _exists(candidate) else module)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cae_denoise."):
            found.add(node.module.removeprefix("cae_denoise."))
    return {name for name in found if name}


def _exists(module: str) -> bool:
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> int:
    top = module.split(".")[0]
    return next(index for index, names in enumerate(LAYERS) if top in names)


MODULES = {_module(path): path for path in sorted(PACKAGE.rglob("*.py")) if path != PACKAGE / "__init__.py"}


def test_every_module_has_a_layer():
    assert all(isinstance(_layer(module), int) for module in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_or_sideways_within_a_wing(module):
    upward = sorted(name for name in _imports(MODULES[module]) if _layer(name) < _layer(module))
    assert not upward, f"{module} imports from a higher layer: {upward}"


def test_no_import_cycles():
    graph = {module: {name for name in _imports(path) if name in MODULES} for module, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for name in sorted(graph[module]):
            assert state.get(name) != "open", f"import cycle: {' -> '.join([*trail, module, name])}"
            if name not in state:
                visit(name, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
