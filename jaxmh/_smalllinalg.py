"""Cholesky factors and triangular solves of small matrices, batched, from elementwise arithmetic.

Formula models solve many small systems per step (one ``k x k`` per level of a
grouping factor, one ``p x p`` for the fixed effects).  Written as unrolled
loops over ``k`` on arrays batched over levels, they vectorise over the levels
and use only ``+ - * /`` and ``sqrt`` (correctly rounded in IEEE arithmetic),
so a chain's draws do not depend on how many chains run beside it.  Matrices
larger than :data:`UNROLL` fall back to :mod:`jax.numpy.linalg`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["UNROLL", "cholesky", "solve_lower", "solve_upper", "cho_solve", "log_diag_sum"]

#: Largest matrix size solved by unrolled loops.
UNROLL = 12


def cholesky(a: jax.Array) -> jax.Array:
    """Lower Cholesky factor of each ``(..., k, k)`` symmetric positive-definite matrix (NaN if not PD)."""
    k = a.shape[-1]
    if k > UNROLL:
        return jnp.linalg.cholesky(a)
    rows: list[list] = [[None] * k for _ in range(k)]
    for j in range(k):
        s = a[..., j, j]
        for m in range(j):
            s = s - rows[j][m] * rows[j][m]
        d = jnp.sqrt(s)
        rows[j][j] = d
        for i in range(j + 1, k):
            s = a[..., i, j]
            for m in range(j):
                s = s - rows[i][m] * rows[j][m]
            rows[i][j] = s / d
    zero = jnp.zeros_like(a[..., 0, 0])
    return jnp.stack([jnp.stack([rows[i][j] if j <= i else zero for j in range(k)], axis=-1)
                      for i in range(k)], axis=-2)


def solve_lower(low: jax.Array, b: jax.Array) -> jax.Array:
    """``x`` with ``low @ x = b`` for lower-triangular ``low`` ``(..., k, k)`` and ``b`` ``(..., k)``
    or ``(..., k, m)``."""
    k = low.shape[-1]
    vector = b.ndim == low.ndim - 1
    if vector:
        b = b[..., None]
    if k > UNROLL:
        x = jax.scipy.linalg.solve_triangular(low, b, lower=True)
        return x[..., 0] if vector else x
    xs = []
    for i in range(k):
        s = b[..., i, :]
        for m in range(i):
            s = s - low[..., i, m, None] * xs[m]
        xs.append(s / low[..., i, i, None])
    x = jnp.stack(xs, axis=-2)
    return x[..., 0] if vector else x


def solve_upper(low: jax.Array, b: jax.Array) -> jax.Array:
    """``x`` with ``low.T @ x = b`` (``low`` lower-triangular, so ``low.T`` is upper-triangular)."""
    k = low.shape[-1]
    vector = b.ndim == low.ndim - 1
    if vector:
        b = b[..., None]
    if k > UNROLL:
        x = jax.scipy.linalg.solve_triangular(jnp.swapaxes(low, -1, -2), b, lower=False)
        return x[..., 0] if vector else x
    xs: list = [None] * k
    for i in reversed(range(k)):
        s = b[..., i, :]
        for m in range(i + 1, k):
            s = s - low[..., m, i, None] * xs[m]
        xs[i] = s / low[..., i, i, None]
    x = jnp.stack(xs, axis=-2)
    return x[..., 0] if vector else x


def cho_solve(low: jax.Array, b: jax.Array) -> jax.Array:
    """``x`` with ``(low @ low.T) x = b``."""
    return solve_upper(low, solve_lower(low, b))


def log_diag_sum(low: jax.Array, log) -> jax.Array:
    """``sum(log(diag(low)))`` over the last two axes, with the caller's ``log``."""
    return jnp.sum(log(jnp.diagonal(low, axis1=-2, axis2=-1)), axis=-1)
