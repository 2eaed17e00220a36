"""Running moments (Welford 1962): posterior means and variances without storing draws.

``sample(..., store="moments")`` and ``fit(..., store="moments")`` keep, per chain
and parameter, the number of draws, their mean and the sum of squared deviations,
updated after every kept draw by Welford's method::

    n += 1;  delta = x - mean;  mean += delta / n;  m2 += delta * (x - mean)

which is numerically stable (no ``sum(x^2) - n mean^2`` cancellation).  Memory is
three numbers per chain and parameter, whatever the run's length.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Welford", "Moments", "welford_init", "welford_update", "welford_variance",
           "moments_of", "moments_from_draws"]

PyTree = Any


class Welford(NamedTuple):
    """Running count, mean and sum of squared deviations of a pytree."""

    count: jax.Array  # int32: exact beyond float32's 2**24
    mean: PyTree
    m2: PyTree


class Moments(NamedTuple):
    """Per-chain moments of the kept draws (what ``store="moments"`` returns).

    count
        Draws seen per chain, shape ``(num_chains,)``.
    mean
        Pytree of the position's structure; leaves ``(num_chains, *leaf_shape)``.
    variance
        Same structure: the per-chain sample variance (``ddof=1``).
    """

    count: jax.Array
    mean: PyTree
    variance: PyTree


def welford_init(tree: PyTree) -> Welford:
    """Empty running moments shaped like ``tree``."""
    zeros = jax.tree.map(jnp.zeros_like, tree)
    return Welford(jnp.zeros((), jnp.int32), zeros, zeros)


def welford_update(w: Welford, x: PyTree) -> Welford:
    """Add one value ``x`` (same structure as the running mean)."""
    count = w.count + 1
    delta = jax.tree.map(lambda v, m: v - m, x, w.mean)
    mean = jax.tree.map(lambda m, d: m + d / count.astype(d.dtype), w.mean, delta)
    m2 = jax.tree.map(lambda s, v, m, d: s + d * (v - m), w.m2, x, mean, delta)
    return Welford(count, mean, m2)


def welford_variance(w: Welford) -> PyTree:
    """Sample variance (``ddof=1``); zero with fewer than two values."""
    return jax.tree.map(lambda s: s / jnp.maximum(w.count - 1, 1).astype(s.dtype), w.m2)


def moments_of(w: Welford) -> Moments:
    """The user-facing :class:`Moments` of (batched) running moments."""
    return Moments(w.count, w.mean, welford_variance(w))


def moments_from_draws(draws: PyTree) -> Moments:
    """:class:`Moments` computed directly from draws shaped ``(chain, draw, *event)``.

    The reference the streaming statistics are tested against.
    """
    leaves = jax.tree_util.tree_leaves(draws)
    if not leaves:
        raise ValueError("draws is empty")
    num_chains, num_draws = np.shape(leaves[0])[:2]
    mean = jax.tree.map(lambda v: np.mean(np.asarray(v), axis=1), draws)
    var = jax.tree.map(lambda v: np.var(np.asarray(v), axis=1, ddof=1) if num_draws > 1
                       else np.zeros_like(np.asarray(v)[:, 0]), draws)
    return Moments(np.full(num_chains, num_draws), mean, var)
