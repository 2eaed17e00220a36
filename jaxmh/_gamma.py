"""Gamma draws that do not depend on how many chains run beside them.

``jax.random.gamma`` evaluates ``log`` inside its rejection loop; on CPU an
elementwise ``log`` may round differently with the batch shape, so chain
``c``'s draw would change with the number of chains.  This is Marsaglia &
Tsang's (2000) method with :mod:`jaxmh.stablemath` and a fixed number of
tries drawn at once: each try is accepted with probability at least 0.95
(shape >= 1), so all :data:`TRIES` fail with probability below ``1e-10``;
then the last try is returned (its distribution is off by that much).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmh import stablemath
from jaxmh._threefry import normals_and_uniforms

__all__ = ["TRIES", "standard_gamma"]

#: Candidates drawn per variate.
TRIES = 8


def standard_gamma(key: jax.Array, shape: jax.Array, dtype) -> jax.Array:
    """Gamma(``shape``, rate 1) variates, one per entry of the 1-d array ``shape`` (entries > 0)."""
    alpha = jnp.atleast_1d(jnp.asarray(shape, dtype))
    m = alpha.shape[0]
    boost = alpha < 1.0
    a = jnp.where(boost, alpha + 1.0, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    z, u = normals_and_uniforms(key, m * TRIES, m * (TRIES + 1), dtype)
    x = z.reshape(TRIES, m)
    t = 1.0 + c * x
    v = t * t * t
    safe = jnp.where(v > 0, v, 1.0)
    ok = (v > 0) & (stablemath.log(u[: m * TRIES].reshape(TRIES, m)) < 0.5 * x * x + d - d * safe
                    + d * stablemath.log(safe))
    first = jnp.argmax(ok, axis=0)                                 # first accepted try (0 if none)
    chosen = jnp.where(jnp.any(ok, axis=0), first, TRIES - 1)
    value = d * jnp.take_along_axis(safe, chosen[None, :], axis=0)[0]
    # shape < 1: Gamma(a + 1) * U^(1/a)
    scale = stablemath.exp(stablemath.log(u[m * TRIES:]) / jnp.where(boost, alpha, 1.0))
    return jnp.where(boost, value * scale, value)
