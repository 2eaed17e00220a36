"""Support-aware log densities: ``-inf`` outside the support, never NaN for valid parameters."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxmh import stablemath

__all__ = ["normal", "uniform", "half_normal", "half_cauchy", "exponential"]

_HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))
_LOG_2 = float(np.log(2.0))
_LOG_2_OVER_PI = float(np.log(2.0 / np.pi))


def normal(x, loc, scale):
    """Log-density of ``N(loc, scale^2)`` at ``x``; ``-inf`` where ``scale <= 0``."""
    safe = jnp.where(scale > 0, scale, 1.0)
    z = (x - loc) / safe
    return jnp.where(scale > 0, -0.5 * z * z - stablemath.log(safe) - _HALF_LOG_2PI, -jnp.inf)


def uniform(x, low, high):
    """Log-density of ``U(low, high)`` at ``x`` (closed interval, like R's ``dunif``)."""
    return jnp.where((x >= low) & (x <= high), -stablemath.log(high - low), -jnp.inf)


def half_normal(x, scale):
    """Log-density of the half-normal with scale ``scale`` at ``x >= 0``."""
    safe = jnp.where(scale > 0, scale, 1.0)
    z = x / safe
    value = -0.5 * z * z - stablemath.log(safe) - _HALF_LOG_2PI + _LOG_2
    return jnp.where((x >= 0) & (scale > 0), value, -jnp.inf)


def half_cauchy(x, scale):
    """Log-density of the half-Cauchy with scale ``scale`` at ``x >= 0``."""
    safe = jnp.where(scale > 0, scale, 1.0)
    z = x / safe
    value = _LOG_2_OVER_PI - stablemath.log(safe) - stablemath.log(1.0 + z * z)
    return jnp.where((x >= 0) & (scale > 0), value, -jnp.inf)


def exponential(x, rate):
    """Log-density of the exponential with rate ``rate`` (mean ``1 / rate``) at ``x >= 0``."""
    safe = jnp.where(rate > 0, rate, 1.0)
    return jnp.where((x >= 0) & (rate > 0), stablemath.log(safe) - safe * x, -jnp.inf)
