"""The package's own shape: imports flow one way (models <- data <- evaluation / embedding <- annotation / training /
hub <- cli), no module imports itself back through a cycle, and no production module reads a test-only switch."""

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "protst_hf"
# layer of each top-level part of the package: a module may import its own layer and the ones below
LAYERS = {"models": 0, "data": 1, "resources": 1, "model_cards": 1, "evaluation": 2, "embedding": 2, "annotation": 3,
          "training": 3, "hub": 3, "cli": 4, "__init__": 5}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """protst_hf modules imported anywhere in the file (module level or inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("protst_hf")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.startswith("protst_hf"):
                found.add(target)
                found |= {f"{target}.{alias.name}" for alias in node.names}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_runs_from_a_lower_layer_up():
    upward = sorted(f"{m} -> {t}" for m, targets in graph().items() for t in targets if layer(t) > layer(m))
    assert upward == []


def test_the_hub_shipped_model_folder_imports_only_its_siblings():
    for path in (PACKAGE / "models" / "protst").glob("*.py"):
        text = path.read_text()
        assert "protst_hf" not in re.sub(r'""".*?"""|#.*', "", text, flags=re.S), path.name
        assert "from .." not in text, path.name


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node, path):
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycle.extend(path[path.index(target):] + [target])
                return True
            if state.get(target) is None and visit(target, path + [target]):
                return True
        state[node] = 2
        return False

    for module in sorted(edges):
        if state.get(module) is None and visit(module, [module]):
            break
    # a package's __init__ importing its own submodules is not a cycle when they do not import it back
    assert cycle == [], " -> ".join(cycle)


def test_no_production_module_reads_a_test_only_switch():
    switches = re.compile(r"environ[^\n]*(DEBUG|KILL|NAN_AT|_TEST)")
    offenders = [str(p.relative_to(SRC)) for p in PACKAGE.rglob("*.py") if switches.search(p.read_text())]
    assert offenders == []
