"""The layers point one way: each module imports only its own layer and the ones below, so the
library never imports a front end (the CLI, the dashboard, the analyses), and the front ends
install under the sgt_probe namespace, never as a top-level `app` or `analyses`."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where each installed package's files live (pyproject.toml maps the two front-end folders).
FOLDERS = {"sgt_probe": "sgt_probe", "sgt_probe.app": "app", "sgt_probe.analyses": "analyses"}
# Bottom to top. A module may import its own layer and the layers below it; the longest
# prefix of a module's name decides its layer.
LAYERS = {
    "sgt_probe": 0,
    "sgt_probe.device": 0,
    "sgt_probe.checkpoint": 0,
    "sgt_probe.data": 0,
    "sgt_probe.tokenizer": 1,
    # the preview grid shows each scene's VQ round trip: a view over data and tokenizer
    "sgt_probe.data.preview": 1,
    "sgt_probe.model": 2,
    "sgt_probe.tuning": 3,
    "sgt_probe.evals": 3,
    "sgt_probe.capture": 4,
    # model sources: our checkpoints and Hugging Face directories behind one protocol, each
    # with its hooked runner (capture), tokenized items and training (tuning)
    "sgt_probe.sources": 4,
    "sgt_probe.probes": 5,
    "sgt_probe.attention": 5,
    # the report contract: compare fills it, every reader loads it; it imports nothing of ours
    "sgt_probe.report": 6,
    "sgt_probe.compare": 7,
    "sgt_probe.viz": 8,
    "sgt_probe.pipeline": 9,
    "sgt_probe.cli": 10,
    "sgt_probe.app": 10,
    "sgt_probe.analyses": 10,
}


def _modules() -> dict[str, Path]:
    """Installed module name -> its file, for every module of the three folders."""
    out = {}
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Every module `path` imports, at any depth (imports inside functions count)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join(base) if node.level else ""
            found.add(".".join(p for p in (module, node.module or "") if p))
    return found


def _layer(module: str) -> int:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)]


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        for imported in _imports(name, path)
        if imported.split(".")[0] == "sgt_probe" and _layer(imported) > _layer(name)
    ]
    assert upward == []


def test_nothing_imports_app_or_analyses_by_a_top_level_name():
    found = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        for imported in _imports(name, path)
        if imported.split(".")[0] in ("app", "analyses")
    ]
    assert found == []


# Folders of data files only, installed as packages so that setuptools ships them quietly.
DATA_PACKAGES = {"sgt_probe.app.assets": "app/assets"}


def test_pyproject_installs_every_package_folder():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {n.rpartition(".")[0] for n, p in _modules().items() if p.name != "__init__.py"}
    folders |= {n for n, p in _modules().items() if p.name == "__init__.py"}
    assert all((ROOT / d).is_dir() for d in DATA_PACKAGES.values())
    assert set(declared["packages"]) == folders | set(DATA_PACKAGES)
    assert declared["package-dir"] == {k: v for k, v in FOLDERS.items() if k != "sgt_probe"}
