"""jaxmh's random-walk kernel run on one flat vector per chain.

A random-walk step touches every coordinate the same way: add scaled noise,
evaluate the log-density, keep or restore.  Done leaf by leaf on a pytree
position (the tutorial's model has two vectors and five scalars), each of
those becomes one small XLA kernel per leaf, and at tens to hundreds of chains
the CPU runtime spends more time dispatching and synchronising those kernels
than computing.  :func:`flatten` runs the *same* transition on the ravelled
position instead: the noise is the same vector (the pytree kernel slices it
leaf by leaf in the same order), the proposal the same sums, and the
log-density sees the same pytree (``unravel`` is free slicing inside the
compiled step), so the chain's draws are those of the pytree kernel.  The
driver unravels what it stores and the final state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmh.kernels import random_walk

PyTree = Any


class Flat(NamedTuple):
    """A flat-vector version of an :class:`~jaxmh.kernels.random_walk.RWStep`."""

    step: Callable        # step(key, RWState(flat, logdensity), scales) -> (state, info)
    scales: np.ndarray    # (P,) proposal sd per coordinate of the ravelled position
    ravel: Callable       # one chain's position -> (P,)
    unravel: Callable     # (P,) -> one chain's position


def flatten(step: Callable, position: PyTree) -> Flat | None:
    """``step`` on ravelled positions, or ``None`` when it does not apply.

    Applies to :class:`~jaxmh.kernels.random_walk.RWStep` (what :func:`jaxmh.rwm`
    returns) when every position leaf has the same floating dtype (ravelling
    mixed dtypes would promote them).  ``position`` is one chain's position.
    """
    if not isinstance(step, random_walk.RWStep):
        return None
    if any(isinstance(s, jax.core.Tracer) for s in jax.tree_util.tree_leaves(step.step_size)):
        return None
    if ravel_fns(position) is None:
        return None
    leaves, treedef = jax.tree_util.tree_flatten(position)
    # memoised, so that the driver's compiled chunks (cached on these functions) are reused
    return _flatten(step, treedef, tuple((jnp.shape(v), jnp.result_type(v)) for v in leaves))


@lru_cache(maxsize=64)
def _flatten(step: random_walk.RWStep, treedef, avals: tuple) -> Flat:
    ravel, unravel = _ravel_fns(treedef, avals)
    position = jax.tree_util.tree_unflatten(treedef, [np.zeros(s, d) for s, d in avals])
    scales = _flat_scales(step.step_size, position)
    return Flat(_FlatStep(FlatLogdensity(step.logdensity_fn, unravel)), scales, ravel, unravel)


def ravel_fns(position: PyTree) -> tuple[Callable, Callable] | None:
    """``(ravel, unravel)`` for one chain's position, or ``None`` for mixed leaf dtypes.

    Memoised on the structure, shapes and dtype, so the same functions (and the
    driver's compiled chunks keyed on them) come back for the same position.
    """
    leaves, treedef = jax.tree_util.tree_flatten(position)
    if not leaves or len({jnp.result_type(leaf) for leaf in leaves}) != 1:
        return None
    return _ravel_fns(treedef, tuple((jnp.shape(v), jnp.result_type(v)) for v in leaves))


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


@dataclass(frozen=True)
class _FlatStep:
    """The random-walk transition on a flat position, the sds passed per chain (as :func:`jaxmh.fit` does)."""

    logdensity: FlatLogdensity

    def __call__(self, key, state, scales):
        return random_walk._KERNEL(key, state, self.logdensity, scales)


def _flat_scales(step_size: PyTree, position: PyTree) -> np.ndarray:
    """One sd per coordinate of the ravelled position."""
    leaves = jax.tree_util.tree_leaves(position)
    if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(step_size)):
        sizes = [step_size] * len(leaves)
    else:
        sizes = jax.tree_util.tree_leaves(step_size)
    return np.concatenate([np.broadcast_to(np.asarray(s, np.float64), np.shape(p)).ravel()
                           for s, p in zip(sizes, leaves)])
