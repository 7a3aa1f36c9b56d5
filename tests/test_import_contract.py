"""The phone side never imports the desktop side: every module of ``sdk/`` and
``android_demo/`` is parsed and every import in it (top level, indented, inside functions,
``importlib.import_module("...")`` with a literal name) is checked against the forbidden
packages."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The app and the SDK run on a phone: numpy + a TFLite interpreter (+ Kivy/plyer for the app).
FORBIDDEN = {"converter", "tensorflow", "keras", "tf_keras", "matplotlib", "sklearn", "scipy", "tqdm"}
PHONE_PACKAGES = ("sdk", "android_demo")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module name an AST imports, with its line: ``import a.b``, ``from a import b``,
    ``importlib.import_module("a")`` and ``__import__("a")``. Relative imports are skipped
    (they stay inside their own package)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def phone_modules() -> list[Path]:
    files = [p for pkg in PHONE_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return files + [ROOT / "main.py"]


def test_checker_sees_indented_and_dynamic_imports():
    code = (
        "def f():\n"
        "    if True:\n"
        "        from converter.hapt import default_data_dir\n"
        "    import tensorflow as tf\n"
        "    importlib.import_module('matplotlib.pyplot')\n"
        "from . import sibling\n"
    )
    names = sorted(n for _, n in imported_modules(ast.parse(code)))
    assert names == ["converter.hapt", "matplotlib.pyplot", "tensorflow"]


@pytest.mark.parametrize("path", phone_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_phone_side_never_imports_the_desktop_side(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [(line, name) for line, name in imported_modules(tree) if name.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the phone side must not need the desktop side"


def test_every_phone_module_is_checked():
    mods = {str(p.relative_to(ROOT)) for p in phone_modules()}
    assert {"sdk/filter.py", "sdk/recording.py", "android_demo/__main__.py", "android_demo/app.py",
            "android_demo/sources/android.py", "main.py"} <= mods
