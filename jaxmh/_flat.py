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

    step: Callable        # step(key, RWState(flat, logdensity)) -> (state, info)
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
    leaves, treedef = jax.tree_util.tree_flatten(position)
    if not leaves or len({jnp.result_type(leaf) for leaf in leaves}) != 1:
        return None
    # memoised, so that the driver's compiled chunks (cached on these functions) are reused
    return _flatten(step, treedef, tuple((jnp.shape(v), jnp.result_type(v)) for v in leaves))


@lru_cache(maxsize=64)
def _flatten(step: random_walk.RWStep, treedef, avals: tuple) -> Flat:
    position = jax.tree_util.tree_unflatten(treedef, [np.zeros(s, d) for s, d in avals])
    _, unravel = ravel_pytree(position)
    scales = _flat_scales(step.step_size, position)
    logdensity_fn = step.logdensity_fn

    def flat_logdensity(x: jax.Array) -> jax.Array:
        return logdensity_fn(unravel(x))

    def flat_step(key, state):
        return random_walk._KERNEL(key, state, flat_logdensity, scales)

    return Flat(flat_step, _ravel, unravel)


def _ravel(position: PyTree) -> jax.Array:
    return ravel_pytree(position)[0]


def _flat_scales(step_size: PyTree, position: PyTree):
    """One sd per coordinate of the ravelled position (or the one float for all)."""
    if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(step_size)):
        return step_size
    parts = [np.broadcast_to(np.asarray(s), np.shape(p)).ravel()
             for s, p in zip(jax.tree_util.tree_leaves(step_size), jax.tree_util.tree_leaves(position))]
    return np.concatenate(parts) if parts else np.zeros(0)
