"""The models the command line offers by name: one registry, filled by the model modules themselves.

The Python API takes model *builders* (any callable from data to a
:class:`jaxmh.models.Model`); this registry only maps the names users type
(``jaxmh fit --model intercepts``) to builders, with the line a header prints.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

__all__ = ["Entry", "MODELS", "register", "builder"]


class Entry(NamedTuple):
    """A registered model: its builder, its equation (``{x}``, ``{y}`` name the columns), a short
    description, and whether it pools partially (the command line then plots its shrinkage)."""

    builder: Callable
    equation: str
    about: str
    partial_pooling: bool = False


#: name -> :class:`Entry`, in the order the modules registered them.
MODELS: dict[str, Entry] = {}


def register(name: str, equation: str, about: str, partial_pooling: bool = False) -> Callable[[Callable], Callable]:
    """Decorator: register a model builder under ``name``."""
    def add(build: Callable) -> Callable:
        MODELS[name] = Entry(build, equation, about, partial_pooling)
        return build

    return add


def builder(name: str) -> Callable:
    """The builder registered as ``name`` (``ValueError`` naming the choices otherwise)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name].builder
