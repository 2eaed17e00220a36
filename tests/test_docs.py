"""The examples in jaxmh's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import jaxmh

# Modules whose public functions document themselves with examples.  (The random-walk kernel
# module was ``jaxmh.kernels.rwm`` before it became ``jaxmh.kernels.random_walk``.)
REQUIRED = ("jaxmh.kernels.random_walk", "jaxmh.sampling", "jaxmh.data", "jaxmh.summary",
            "jaxmh.diagnostics")


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(jaxmh.__path__, prefix="jaxmh."):
        module = importlib.import_module(info.name)
        if doctest.DocTestFinder().find(module) and any(
                t.examples for t in doctest.DocTestFinder().find(module)):
            names.append(info.name)
    return sorted(names)


WITH_EXAMPLES = _modules_with_examples()

# Known-broken examples (bugs reported, not to be hidden): {module: reason}.
KNOWN_BROKEN: dict = {}


def _param(name):
    if name in KNOWN_BROKEN:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[name]))
    return name


def test_required_modules_have_examples():
    missing = [m for m in REQUIRED if m not in WITH_EXAMPLES]
    assert missing == [], f"no doctest examples in {missing}"


@pytest.mark.parametrize("name", [_param(n) for n in sorted(set(REQUIRED) | set(WITH_EXAMPLES))])
def test_doctests_pass(name):
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, verbose=False, report=True)
    assert attempted > 0, f"{name} has no doctest examples"
    assert failures == 0, f"{failures} of {attempted} doctest examples in {name} failed (see output)"
