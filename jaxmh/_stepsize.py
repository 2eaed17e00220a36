"""Step-size pytrees shaped like a position: checks, per-leaf scales, per-chain broadcasting.

A step size is one float for every coordinate, or a pytree with the
position's structure whose leaves broadcast to the position's leaves (one sd
per leaf or per coordinate).  A leaf may also carry a leading chain axis
(``(num_chains, *leaf_shape)``, one more dimension than the position leaf):
per-chain step sizes, as :func:`jaxmh.fit` tunes them.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks

PyTree = Any


def is_scalar_tree(step_size: PyTree) -> bool:
    return jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(step_size))


def leaf_scales(step_size: PyTree, position: PyTree) -> list:
    """Proposal sd for each position leaf (a scalar or an array broadcastable to the leaf)."""
    if is_scalar_tree(step_size):
        return [step_size] * len(jax.tree_util.tree_leaves(position))
    return jax.tree_util.tree_leaves(step_size)


def _per_chain_leaf(s: Any, p: Any) -> bool:
    return np.ndim(s) == np.ndim(p) + 1


def check(step_size: PyTree, position: PyTree, name: str = "step_size", num_chains: int | None = None) -> None:
    """A pytree ``step_size`` must have the position's structure and broadcast to its leaves.

    ``position`` is one chain's.  A leaf with one more dimension than its
    position leaf is per chain, allowed only when ``num_chains`` is given (the
    drivers run several chains; a kernel stepping one chain cannot use them),
    and its leading axis must then be ``num_chains``.
    """
    if is_scalar_tree(step_size):
        if np.ndim(step_size) > 1 or (np.ndim(step_size) == 1 and not jax.tree_util.tree_leaves(position)):
            raise ValueError(f"{name} must be a float or a pytree like the position, got shape {np.shape(step_size)}")
        return
    want = jax.tree_util.tree_structure(position)
    got = jax.tree_util.tree_structure(step_size)
    if want != got:
        raise ValueError(
            f"{name} has pytree structure {got}, but the position has {want}; "
            "pass one float or a pytree with the position's structure"
        )
    for leaf, s, p in zip(_checks.leaf_names(position), jax.tree_util.tree_leaves(step_size),
                          jax.tree_util.tree_leaves(position)):
        shape, target = np.shape(s), np.shape(p)
        if _per_chain_leaf(s, p) and num_chains is not None:
            if shape[0] != num_chains:
                raise ValueError(f"{name} leaf {leaf} has per-chain shape {shape}, but {num_chains} chains run")
            shape = shape[1:]
        try:
            fits = jnp.broadcast_shapes(shape, target) == target
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name} leaf {leaf} has shape {np.shape(s)}, which does not fit the "
                f"position leaf of shape {target}"
            )


def per_chain(step_size: PyTree, position: PyTree, num_chains: int, dtype: Any = None) -> PyTree:
    """``step_size`` as a pytree like ``position`` with every leaf shaped ``(num_chains, *leaf_shape)``."""
    dtype = dtype or jnp.result_type(float)
    leaves, treedef = jax.tree_util.tree_flatten(position)

    def one(s, p):  # a per-chain leaf (C, ...) and a shared one (...) both broadcast to (C, *p's shape)
        return jnp.broadcast_to(jnp.asarray(s, dtype), (num_chains,) + jnp.shape(p))

    return jax.tree_util.tree_unflatten(treedef, [one(s, p) for s, p in zip(leaf_scales(step_size, position), leaves)])


def move(position: dict, names, step_size: dict, z: jax.Array) -> dict:
    """Add ``step_size[k] * noise`` to each leaf named in ``names`` (noise sliced from ``z`` in that order)."""
    out = dict(position)
    offset = 0
    for k in names:
        leaf = position[k]
        size = int(np.prod(jnp.shape(leaf)))
        noise = z[offset:offset + size].reshape(jnp.shape(leaf))
        out[k] = leaf + (jnp.asarray(step_size[k], noise.dtype) * noise).astype(jnp.result_type(leaf))
        offset += size
    return out


def without(step_size: Any, key: str) -> tuple:
    """``(step_size without its entry key, that entry or None)``: a kernel's sds and its second move's."""
    if isinstance(step_size, dict) and key in step_size:
        return {k: v for k, v in step_size.items() if k != key}, step_size[key]
    return step_size, None
