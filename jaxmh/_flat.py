"""A position pytree as one flat vector per chain (the random-walk kernel's fast layout).

A random-walk step touches every coordinate the same way: add scaled noise,
evaluate the log-density, keep or restore.  Done leaf by leaf on a pytree
position (the tutorial's model has two vectors and five scalars), each of
those becomes one small XLA kernel per leaf, and at tens to hundreds of chains
the CPU runtime spends more time dispatching and synchronising those kernels
than computing.  The random-walk kernel's ``representation`` (:mod:`jaxmh.kernels.random_walk`)
runs the *same* transition on the ravelled position instead: the noise is the same vector (the pytree kernel slices it
leaf by leaf in the same order), the proposal the same sums, and the
log-density sees the same pytree (``unravel`` is free slicing inside the
compiled step), so the chain's draws are those of the pytree kernel.  The
driver unravels what it stores and the final state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

PyTree = Any


def ravel_fns(position: PyTree) -> tuple[Callable, Callable] | None:
    """``(ravel, unravel)`` for one chain's position, or ``None`` for mixed leaf dtypes.

    Memoised on the structure, shapes and dtype, so the same functions (and the
    driver's compiled chunks keyed on them) come back for the same position.
    """
    signature = _signature(position)
    return None if signature is None else _ravel_fns(*signature)


def _signature(position: PyTree) -> tuple | None:
    """``(treedef, ((shape, dtype), ...))`` of a position, or ``None`` unless one dtype throughout."""
    leaves, treedef = jax.tree_util.tree_flatten(position)
    avals = tuple((jnp.shape(v), jnp.result_type(v)) for v in leaves)
    if not avals or len({dtype for _, dtype in avals}) != 1:
        return None
    return treedef, avals


@lru_cache(maxsize=64)
def _ravel_fns(treedef, avals: tuple) -> tuple[Callable, Callable]:
    _, unravel = ravel_pytree(jax.tree_util.tree_unflatten(treedef, [np.zeros(s, d) for s, d in avals]))
    return _ravel, unravel


def _ravel(position: PyTree) -> jax.Array:
    return ravel_pytree(position)[0]


@dataclass(frozen=True, eq=False)
class FlatLogdensity:
    """``logdensity_fn(unravel(x))``: a log-density of the ravelled position.

    Equal (and hashed) by the identity of its two functions, so the compiled
    chunks are reused for the same model, even if ``logdensity_fn`` itself
    is not hashable.
    """

    logdensity_fn: Callable
    unravel: Callable

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.logdensity_fn(self.unravel(x))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, FlatLogdensity) and self.logdensity_fn is other.logdensity_fn
                and self.unravel is other.unravel)

    def __hash__(self) -> int:
        return hash((id(self.logdensity_fn), id(self.unravel)))
