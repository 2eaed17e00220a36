"""``exp`` and ``log`` from basic IEEE operations, so every chain computes the same bits.

XLA's CPU backend evaluates ``exp`` and ``log`` with different code paths
depending on the shape of the batch (vectorised polynomial for full SIMD
lanes, another routine for the remainder), so ``jnp.exp(x)`` for chain 2 may
differ in the last bit when 3 chains run instead of 8, or when the chains are
sharded over devices.  A Metropolis accept/reject decision almost never
notices, but warm-up adaptation feeds acceptance probabilities and
multipliers back into the proposal scales, and one bit becomes a different
chain.  These versions use only ``+ - * /``, ``floor`` and bit casts, which are
correctly rounded whatever the batch shape, and are accurate to about 1 ulp.
They are used where the sampler's own arithmetic feeds a chain's future
(acceptance probabilities, adapted scales) and in jaxmh's log-densities.

Public, so that a model of one's own can keep the guarantee: use
``jaxmh.stablemath.log`` / ``exp`` instead of ``jnp.log`` / ``jnp.exp`` in a
log-density whose chains must not depend on how many run beside them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["exp", "log", "log_normal_f32", "horner"]

_LN2 = float(np.log(2.0))


def _consts(dtype):
    if dtype == jnp.float64:
        return dict(uint=jnp.uint64, sint=jnp.int64, bits=52, bias=1023, lo=-745.2, hi=709.78,
                    ln2_hi=0.6931471803691238, ln2_lo=1.9082149292705877e-10, exp_terms=14,
                    log_terms=12)
    return dict(uint=jnp.uint32, sint=jnp.int32, bits=23, bias=127, lo=-103.98, hi=88.72,
                ln2_hi=0.693145751953125, ln2_lo=1.428606765330187e-06, exp_terms=8, log_terms=6)


def _pow2(k, dtype, c):
    """``2**k`` for integer-valued float ``k`` in the normal range, exactly."""
    ki = k.astype(c["sint"]) + c["bias"]
    return jax.lax.bitcast_convert_type((ki.astype(c["uint"])) << c["bits"], dtype)


def _as_float(x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x, x.dtype


def exp(x):
    """``e**x``; 0 below the underflow limit, ``inf`` above the overflow limit, NaN for NaN."""
    if isinstance(x, (int, float, np.number)):
        return np.exp(x)          # a constant: no graph at all
    return _exp(x)


@jax.jit
def _exp(x):
    x, dtype = _as_float(x)
    if dtype not in (jnp.float32, jnp.float64):
        return jnp.exp(x)
    c = _consts(dtype)
    xc = jnp.clip(x, c["lo"], c["hi"])
    k = jnp.floor(xc * (1.0 / _LN2) + 0.5)
    r = (xc - k * c["ln2_hi"]) - k * c["ln2_lo"]       # |r| <= ln2 / 2
    p = jnp.ones_like(r)
    for n in range(c["exp_terms"], 0, -1):              # Horner: 1 + r(1 + r/2(1 + r/3(...)))
        p = 1.0 + p * r / n
    # 2**k in two halves so that k down to -149 (subnormal results) stays representable
    k1 = jnp.floor(k / 2)
    out = p * _pow2(k1, dtype, c) * _pow2(k - k1, dtype, c)
    out = jnp.where(x < c["lo"], 0.0, out)
    out = jnp.where(x > c["hi"], jnp.inf, out)
    return jnp.where(jnp.isnan(x), x, out).astype(dtype)


def log(x):
    """Natural log; ``-inf`` at 0, NaN below 0, ``inf`` at ``inf``."""
    if isinstance(x, (int, float, np.number)):
        return np.log(x) if x > 0 else (-np.inf if x == 0 else np.nan)
    return _log(x)


@jax.jit
def _log(x):
    x, dtype = _as_float(x)
    if dtype not in (jnp.float32, jnp.float64):
        return jnp.log(x)
    c = _consts(dtype)
    tiny = jnp.finfo(dtype).tiny
    # scale subnormals into the normal range first
    sub = x < tiny
    xs = jnp.where(sub, x * float(2.0 ** (c["bits"] + 1)), x)
    xs = jnp.where((xs > 0) & jnp.isfinite(xs), xs, 1.0)
    bits = jax.lax.bitcast_convert_type(xs, c["uint"])
    e = ((bits >> c["bits"]).astype(c["sint"]) - c["bias"])
    mant_bits = (bits & ((1 << c["bits"]) - 1)) | (c["bias"] << c["bits"])
    m = jax.lax.bitcast_convert_type(mant_bits.astype(c["uint"]), dtype)   # in [1, 2)
    big = m > float(np.sqrt(2.0))
    m = jnp.where(big, m * 0.5, m)                                          # in [sqrt(1/2), sqrt(2))
    e = (e + big.astype(c["sint"])).astype(dtype) - jnp.where(sub, float(c["bits"] + 1), 0.0)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    q = jnp.zeros_like(s)
    for n in range(c["log_terms"], -1, -1):             # atanh series: s(2 + 2s^2/3 + 2s^4/5 ...)
        q = 2.0 / (2 * n + 1) + s2 * q
    out = e * c["ln2_hi"] + (s * q + e * c["ln2_lo"])
    out = jnp.where(x == 0, -jnp.inf, out)
    out = jnp.where(x < 0, jnp.nan, out)
    out = jnp.where(x == jnp.inf, jnp.inf, out)
    return jnp.where(jnp.isnan(x), x, out).astype(dtype)


# log(1 + f) = f q(f) on sqrt(1/2) - 1 <= f < sqrt(2) - 1: a Chebyshev fit of degree 7 for q
# (absolute error of the log below 4e-7 in float32 arithmetic).
_LOG1P_OVER_F = (0.9999999403953552, -0.5000036358833313, 0.33335113525390625, -0.24970068037509918,
                 0.19898544251918793, -0.17247051000595093, 0.1623438149690628, -0.10134179145097733)
_SQRT_HALF_BITS = np.uint32(0x3F3504F3)   # float32 sqrt(1/2)
_ONE_BITS = np.uint32(0x3F800000)


def horner(x, coefficients):
    """``c0 + x (c1 + x (c2 + ...))`` for ``coefficients = (c0, c1, ...)``, in float32 constants."""
    acc = jnp.asarray(np.float32(coefficients[-1]))
    for c in coefficients[-2::-1]:
        acc = np.float32(c) + acc * x
    return acc


def log_normal_f32(x: jax.Array) -> jax.Array:
    """Natural log of positive, finite, normal float32 ``x``: exponent plus a polynomial, no division.

    No special cases (zero, subnormals, infinities, NaN): a fast path for
    callers that guarantee the domain, such as :func:`jaxmh._threefry.erf_inv_f32`.
    Error below ``2e-7 * max(1, |log x|)`` over the whole normal float32 range.
    """
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32) + (_ONE_BITS - _SQRT_HALF_BITS)
    e = (bits >> np.uint32(23)).astype(jnp.int32) - 127           # x = 2^e m, sqrt(1/2) <= m < sqrt(2)
    m = jax.lax.bitcast_convert_type((bits & np.uint32(0x7FFFFF)) + _SQRT_HALF_BITS, jnp.float32)
    f = m - np.float32(1)
    return e.astype(jnp.float32) * np.float32(np.log(2.0)) + f * horner(f, _LOG1P_OVER_F)
