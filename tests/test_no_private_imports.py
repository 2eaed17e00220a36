"""No module of ``jaxmh/`` uses another module's private (underscore-prefixed) names (issue 12).

A module's private names are its own; what another module needs is public API.  The package's
private *modules* (``_loop``, ``_flat``, ``models._common`` ...) exist to be shared inside the
package, so importing them is fine -- what they define without an underscore is their API.
"""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "jaxmh"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _violations(path: pathlib.Path) -> list:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    modules = set()  # local names bound to jaxmh modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jaxmh":
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / (target.replace(".", "/") + ".py")).exists() or \
                        (PACKAGE.parent / target.replace(".", "/")).is_dir():
                    modules.add(alias.asname or alias.name)      # a module: fine, even a private one
                elif _private(alias.name):
                    found.append(f"{path.name}:{node.lineno} imports {alias.name} from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jaxmh":
                    modules.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"{path.name}:{node.lineno} uses {ast.unparse(node)}")
    return found


def test_no_module_imports_another_modules_private_names():
    found = [v for path in sorted(PACKAGE.rglob("*.py")) for v in _violations(path)]
    assert not found, "\n".join(found)


def test_the_check_finds_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from jaxmh.sampling import _is_state\nfrom jaxmh import diagnostics\n"
                   "diagnostics._valid(1, 2)\nfrom jaxmh import _loop\n_loop.run\n")
    found = _violations(bad)
    assert len(found) == 2 and "_is_state" in found[0] and "diagnostics._valid" in found[1]
