"""The fused Threefry-2x32 generator and the normals/uniforms the kernel draws from it."""

from __future__ import annotations

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxmh import stablemath, _threefry
from jaxmh._threefry import fold_in, normal_and_uniform, random_words, threefry2x32

_u32 = st.integers(min_value=0, max_value=2**32 - 1)


def _jax_reference(k0, k1, x0, x1):
    """``jax.extend.random.threefry_2x32`` takes the counters as one array: first words, then second."""
    counts = jnp.concatenate([jnp.asarray(x0, jnp.uint32), jnp.asarray(x1, jnp.uint32)])
    out = jex_random.threefry_2x32(jnp.array([k0, k1], dtype=jnp.uint32), counts)
    n = len(x0)
    return np.asarray(out[:n]), np.asarray(out[n:])


@settings(max_examples=60, deadline=None)
@given(k0=_u32, k1=_u32, counters=st.lists(st.tuples(_u32, _u32), min_size=1, max_size=16))
def test_threefry2x32_equals_jax(k0, k1, counters):
    x0 = jnp.array([c[0] for c in counters], dtype=jnp.uint32)
    x1 = jnp.array([c[1] for c in counters], dtype=jnp.uint32)
    y0, y1 = threefry2x32(jnp.uint32(k0), jnp.uint32(k1), x0, x1)
    assert y0.dtype == jnp.uint32 and y1.dtype == jnp.uint32
    r0, r1 = _jax_reference(k0, k1, x0, x1)
    np.testing.assert_array_equal(np.asarray(y0), r0)
    np.testing.assert_array_equal(np.asarray(y1), r1)


@pytest.mark.parametrize(
    "key, counter, expected",
    [
        ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ],
)
def test_threefry2x32_known_answers(key, counter, expected):
    """Random123's known-answer vectors for Threefry-2x32-20."""
    u = jnp.uint32
    y0, y1 = threefry2x32(u(key[0]), u(key[1]), u(counter[0]), u(counter[1]))
    assert (int(y0), int(y1)) == expected


def test_threefry2x32_under_jit_and_broadcasting():
    rng = np.random.default_rng(0)
    k = rng.integers(0, 2**32, size=2, dtype=np.uint32)
    x0 = rng.integers(0, 2**32, size=(5, 7), dtype=np.uint32)
    x1 = rng.integers(0, 2**32, size=(7,), dtype=np.uint32)
    y0, y1 = jax.jit(threefry2x32)(k[0], k[1], x0, x1)
    assert y0.shape == y1.shape == (5, 7)
    b1 = np.broadcast_to(x1, x0.shape)
    r0, r1 = _jax_reference(int(k[0]), int(k[1]), x0.ravel(), b1.ravel())
    np.testing.assert_array_equal(np.asarray(y0).ravel(), r0)
    np.testing.assert_array_equal(np.asarray(y1).ravel(), r1)


@settings(max_examples=30, deadline=None)
@given(seed=_u32, data=_u32)
def test_fold_in_is_threefry_of_the_counter(seed, data):
    key = jax.random.key(seed)
    k0, k1 = (int(v) for v in jax.random.key_data(key))
    got = jax.random.key_data(fold_in(key, jnp.uint32(data)))
    want = _jax_reference(k0, k1, [data], [0])
    assert [int(v) for v in got] == [int(want[0][0]), int(want[1][0])]


def test_fold_in_gives_distinct_keys_and_words():
    key = jax.random.key(123)
    keys = jax.vmap(lambda c: jax.random.key_data(fold_in(key, c)))(jnp.arange(2**16, dtype=jnp.uint32))
    assert len({tuple(row) for row in np.asarray(keys).tolist()}) == 2**16
    words = np.asarray(random_words(key, 9))
    assert words.shape == (9,) and words.dtype == np.uint32
    # Block b gives words b (first output) and num_blocks + b (second output).
    k0, k1 = (int(v) for v in jax.random.key_data(key))
    r0, r1 = _jax_reference(k0, k1, np.arange(5), np.zeros(5))
    np.testing.assert_array_equal(words, np.concatenate([r0, r1])[:9])


# --------------------------------------------------------------------------------------
# normal_and_uniform
# --------------------------------------------------------------------------------------


def _check_standard_normal(z, what):
    z = np.asarray(z, np.float64).ravel()
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n), what
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n), what
    # Skewness and excess kurtosis: sd sqrt(6/n) and sqrt(24/n).
    assert abs(scipy.stats.skew(z)) < 4 * np.sqrt(6 / n), what
    assert abs(scipy.stats.kurtosis(z)) < 4 * np.sqrt(24 / n), what
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-4, what


@pytest.mark.parametrize("enable_x64", [False, True], ids=["float32", "float64"])
def test_normals_from_one_key_are_standard_normal(enable_x64):
    dtype = jnp.float64 if enable_x64 else jnp.float32
    with jax.enable_x64(enable_x64):
        z, u = normal_and_uniform(jax.random.key(0), 200_000, dtype)
        assert z.dtype == dtype and u.dtype == dtype and z.shape == (200_000,) and u.shape == ()
        z = np.asarray(z)
    _check_standard_normal(z, str(dtype))
    assert 0 < float(u) < 1
    # Neighbouring normals are uncorrelated.
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 4 / np.sqrt(z.size)
    if enable_x64:
        # The float64 path has float64 resolution (52-bit uniforms), not float32's.
        assert np.mean(z != z.astype(np.float32).astype(np.float64)) > 0.99


@pytest.mark.parametrize("enable_x64", [False, True], ids=["float32", "float64"])
def test_normals_and_uniforms_across_keys(enable_x64):
    """One (z, u) per key, as the kernel uses them: z standard normal, u uniform on (0, 1), independent."""
    dtype = jnp.float64 if enable_x64 else jnp.float32
    n_keys = 50_000
    with jax.enable_x64(enable_x64):
        keys = jax.vmap(lambda c: fold_in(jax.random.key(7), c))(jnp.arange(n_keys, dtype=jnp.uint32))
        z, u = jax.jit(jax.vmap(lambda k: normal_and_uniform(k, 3, dtype)))(keys)
        assert z.dtype == dtype and u.dtype == dtype
        z, u = np.asarray(z, np.float64), np.asarray(u, np.float64)
    assert z.shape == (n_keys, 3) and u.shape == (n_keys,)
    for j in range(3):
        _check_standard_normal(z[:, j], f"coordinate {j}")
    assert np.all((u > 0) & (u < 1))
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n_keys)
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-4
    # Independence of the uniform from the normals and of the normals from each other.
    corr = np.corrcoef(np.column_stack([z, u, np.abs(z[:, 0]), np.log(u)]).T)
    for i, j in [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3), (4, 5), (1, 4), (2, 4)]:
        assert abs(corr[i, j]) < 4 / np.sqrt(n_keys), (i, j, corr[i, j])


@pytest.mark.parametrize("enable_x64", [False, True], ids=["float32", "float64"])
def test_uniform_is_in_the_open_interval_even_at_the_extreme_words(enable_x64):
    dtype = jnp.float64 if enable_x64 else jnp.float32
    extremes = jnp.array([0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF], dtype=jnp.uint32)
    with jax.enable_x64(enable_x64):
        u = np.asarray(_threefry._open_unit(extremes, dtype))
        x = 2 * jnp.asarray(u) - 1
        erfinv = jax.lax.erf_inv(x) if enable_x64 else _threefry.erf_inv_f32(x)
        z = np.asarray(jnp.sqrt(2.0).astype(dtype) * erfinv)
    assert u.dtype == dtype
    assert np.all((u > 0) & (u < 1))
    assert np.all(np.isfinite(z))


def test_float32_erfinv_on_every_uniform_the_generator_makes():
    """All 2^23 float32 uniforms: erfinv within 1e-6 (relative) of scipy's float64 value,
    exactly odd (so the proposal is exactly symmetric) and strictly increasing."""
    k = np.arange(2**23, dtype=np.uint32)
    u = np.asarray(_threefry._open_unit(jnp.asarray(k << np.uint32(9)), jnp.float32))
    x = 2 * u - 1
    z = np.asarray(jax.jit(_threefry.erf_inv_f32)(jnp.asarray(x)))
    reference = scipy.special.erfinv(x.astype(np.float64))
    assert np.max(np.abs(z - reference) / np.abs(reference)) < 1e-6
    np.testing.assert_array_equal(z, -z[::-1])     # u_k and u_(2^23-1-k) are 1 - each other
    assert np.all(np.diff(z) > 0)


def test_fast_float32_log_over_the_normal_range():
    """stablemath.log_normal_f32 (the normals' logarithm): error below 2e-7 * max(1, |log x|)."""
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(np.log(1.2e-38), np.log(3e38), 1_000_000)).astype(np.float32)
    x = np.concatenate([x[x >= np.finfo(np.float32).tiny], np.float32([1.0, 0.5, 2.0, np.sqrt(0.5)])])
    got = np.asarray(jax.jit(stablemath.log_normal_f32)(jnp.asarray(x)), np.float64)
    reference = np.log(x.astype(np.float64))
    assert np.max(np.abs(got - reference) / np.maximum(1.0, np.abs(reference))) < 2e-7


_words = st.lists(_u32, min_size=2, max_size=20).filter(lambda w: len(w) % 2 == 0)


@settings(max_examples=40, deadline=None)
@given(words=_words)
def test_uniforms_are_symmetric_about_one_half(words):
    """Complementing the random bits maps u to 1 - u exactly (so the normals are symmetric)."""
    w = jnp.array(words, dtype=jnp.uint32)
    u = np.asarray(_threefry._open_unit(w, jnp.float32), np.float64)
    v = np.asarray(_threefry._open_unit(~w, jnp.float32), np.float64)
    np.testing.assert_array_equal(u, 1.0 - v)
    with jax.enable_x64(True):
        u = np.asarray(_threefry._open_unit(w, jnp.float64))
        v = np.asarray(_threefry._open_unit(~w, jnp.float64))
    np.testing.assert_array_equal(u, 1.0 - v)


def test_non_threefry_keys_fall_back_to_jax_random():
    key = jax.random.key(0, impl="rbg")
    z, u = normal_and_uniform(key, 100_000, jnp.float32)
    assert z.shape == (100_000,) and u.shape == ()
    _check_standard_normal(np.asarray(z), "rbg")
    us = jax.vmap(lambda k: normal_and_uniform(k, 1, jnp.float32)[1])(jax.random.split(key, 20_000))
    us = np.asarray(us)
    assert np.all((us > 0) & (us < 1))
    assert scipy.stats.kstest(us, "uniform").pvalue > 1e-4
    # fold_in falls back to jax.random.fold_in.
    np.testing.assert_array_equal(
        np.asarray(jax.random.key_data(fold_in(key, jnp.uint32(5)))),
        np.asarray(jax.random.key_data(jax.random.fold_in(key, 5))),
    )


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
def test_uniform_is_in_the_open_interval_for_half_precision(dtype):
    u = np.asarray(_threefry._open_unit(jnp.array([0xFFFFFFFF], jnp.uint32), dtype), np.float64)
    assert np.all((u > 0) & (u < 1))
