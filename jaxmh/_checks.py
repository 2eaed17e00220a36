"""Argument validation shared by the public functions (runs in Python, before tracing)."""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np

__all__ = ["positive_int", "nonnegative_int", "as_key", "leaf_names", "positive_scales"]


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def nonnegative_int(value: Any, name: str) -> int:
    return positive_int(value, name, minimum=0)


def as_key(key: Any, name: str = "key") -> jax.Array:
    """Accept a typed key (``jax.random.key``) or raw uint32 key data; return a typed key."""
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name} must be a single PRNG key, got a key array of shape {key.shape}")
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.ndim == 1:
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"{name} must be a JAX PRNG key such as jax.random.key(0), got {type(key).__name__}"
    )


def leaf_names(tree: Any) -> list[str]:
    """Readable names of a pytree's leaves: ``alpha``, ``['a']['b']``, ``[0]`` ..."""
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if len(path) == 1 and isinstance(path[0], jax.tree_util.DictKey):
            names.append(str(path[0].key))
        else:
            names.append(jax.tree_util.keystr(path) or "<root>")
    return names


def positive_scales(step_size: Any, name: str = "step_size") -> None:
    """Raise unless every leaf of ``step_size`` is a finite number > 0."""
    leaves = jax.tree_util.tree_leaves(step_size)
    if not leaves:
        raise ValueError(f"{name} is empty; expected a positive float or a pytree of them")
    for leaf_name, leaf in zip(leaf_names(step_size), leaves):
        if isinstance(leaf, jax.core.Tracer):
            continue  # traced (e.g. adapted inside jit): cannot be checked here
        try:
            arr = np.asarray(leaf, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: leaf {leaf_name} is not numeric ({leaf!r})") from None
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{name} must be finite and > 0; leaf {leaf_name} is {arr}")
