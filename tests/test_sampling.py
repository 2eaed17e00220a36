"""The sampling driver: keys and chain independence, warm-up/thinning, continuation, validation."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_within_mcse, batch_means

import jaxmh
from jaxmh import _threefry


def _logdensity(p):
    return -0.5 * jnp.sum(p["a"] ** 2) - 0.5 * (p["b"] - 1.0) ** 2 / 4.0


_KERNEL = jaxmh.rwm(_logdensity, {"a": 0.8, "b": 1.5})


def _positions(num_chains, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(size=(num_chains, 3)).astype(np.float32),
        "b": rng.normal(size=(num_chains,)).astype(np.float32),
    }


def _assert_trees_equal(x, y):
    assert jax.tree.structure(x) == jax.tree.structure(y)
    for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _first(tree, n):
    return jax.tree.map(lambda v: v[:n], tree)


# --------------------------------------------------------------------------------------
# Result layout
# --------------------------------------------------------------------------------------


def test_result_shapes_and_dtypes():
    result = jaxmh.sample(jax.random.key(0), _KERNEL, _positions(5), num_samples=17, num_warmup=3, thin=2)
    assert isinstance(result, jaxmh.Result)
    assert result.draws["a"].shape == (5, 17, 3) and result.draws["b"].shape == (5, 17)
    assert result.draws["a"].dtype == jnp.float32
    assert result.acceptance_rate.shape == (5,)
    rate = np.asarray(result.acceptance_rate)
    assert np.all((rate >= 0) & (rate <= 1))
    # 34 post-warm-up steps per chain: the rate is a multiple of 1/34.
    np.testing.assert_allclose(rate * 34, np.round(rate * 34), atol=1e-4)
    assert result.final_state.position["a"].shape == (5, 3)
    assert result.final_state.logdensity.shape == (5,)


def test_float64_positions_give_float64_draws(x64):
    pos = jax.tree.map(lambda v: v.astype(np.float64), _positions(3))
    result = jaxmh.sample(jax.random.key(0), _KERNEL, pos, num_samples=10)
    assert result.draws["a"].dtype == jnp.float64 and result.draws["b"].dtype == jnp.float64
    assert result.final_state.logdensity.dtype == jnp.float64


def test_integer_initial_positions_are_converted_to_float():
    algo = jaxmh.rwm(lambda x: -0.5 * jnp.sum(x**2), 1.0)
    result = jaxmh.sample(jax.random.key(0), algo, np.zeros((2, 3), dtype=np.int32), num_samples=5)
    assert jnp.issubdtype(result.draws.dtype, jnp.floating)
    assert result.draws.shape == (2, 5, 3)


# --------------------------------------------------------------------------------------
# 5. Keys: determinism and chain independence
# --------------------------------------------------------------------------------------


def test_same_key_same_draws_and_different_key_different_draws():
    pos = _positions(4)
    r1 = jaxmh.sample(jax.random.key(1), _KERNEL, pos, num_samples=50)
    r2 = jaxmh.sample(jax.random.key(1), _KERNEL, pos, num_samples=50)
    r3 = jaxmh.sample(jax.random.key(2), _KERNEL, pos, num_samples=50)
    _assert_trees_equal(r1, r2)
    assert not np.array_equal(np.asarray(r1.draws["a"]), np.asarray(r3.draws["a"]))
    # Chains with the same starting point still get different streams.
    same = jax.tree.map(lambda v: np.repeat(v[:1], 4, axis=0), pos)
    r4 = jaxmh.sample(jax.random.key(1), _KERNEL, same, num_samples=50)
    a = np.asarray(r4.draws["a"])
    assert all(not np.array_equal(a[0], a[c]) for c in range(1, 4))


@pytest.mark.parametrize("settings", [dict(), dict(num_warmup=7, thin=3)], ids=["plain", "warmup-thin"])
def test_chain_draws_do_not_depend_on_the_number_of_chains(settings):
    big = _positions(400)
    key = jax.random.key(42)
    r4 = jaxmh.sample(key, _KERNEL, _first(big, 4), num_samples=50, **settings)
    r400 = jaxmh.sample(key, _KERNEL, big, num_samples=50, **settings)
    # Bit for bit: draws, acceptance rates and final states of chains 0..3.
    _assert_trees_equal(_first(r400.draws, 4), r4.draws)
    _assert_trees_equal(r400.acceptance_rate[:4], r4.acceptance_rate)
    _assert_trees_equal(_first(r400.final_state, 4), r4.final_state)


def test_chain_draws_do_not_depend_on_other_chains_starting_points():
    pos = _positions(6)
    other = jax.tree.map(lambda v: v.copy(), pos)
    other["a"][1:] += 10.0
    other["b"][1:] -= 3.0
    key = jax.random.key(8)
    r1 = jaxmh.sample(key, _KERNEL, pos, num_samples=40, num_warmup=5, thin=2)
    r2 = jaxmh.sample(key, _KERNEL, other, num_samples=40, num_warmup=5, thin=2)
    _assert_trees_equal(_first(r1.draws, 1), _first(r2.draws, 1))
    assert not np.array_equal(np.asarray(r1.draws["a"][1]), np.asarray(r2.draws["a"][1]))


@pytest.mark.parametrize("enable_x64", [False, True], ids=["float32", "float64"])
def test_warmup_and_thinning_keep_the_right_steps(enable_x64):
    """With warm-up W and thinning T, draw i is step W + (i + 1) T - 1 of the same chain."""
    num_warmup, thin, num_samples = 7, 3, 50
    with jax.enable_x64(enable_x64):
        pos = jax.tree.map(lambda v: v.astype(np.float64 if enable_x64 else np.float32), _positions(8))
        key = jax.random.key(5)
        full = jaxmh.sample(key, _KERNEL, pos, num_samples=num_warmup + num_samples * thin)
        kept = jaxmh.sample(key, _KERNEL, pos, num_samples=num_samples, num_warmup=num_warmup, thin=thin)
        assert kept.draws["a"].dtype == (jnp.float64 if enable_x64 else jnp.float32)
    index = num_warmup + thin * np.arange(1, num_samples + 1) - 1
    _assert_trees_equal(jax.tree.map(lambda v: v[:, index], full.draws), kept.draws)
    _assert_trees_equal(full.final_state, kept.final_state)
    # The post-warm-up acceptance rate counts the moves among steps W .. W + 150 - 1.
    moved = np.any(np.diff(np.asarray(full.draws["a"]), axis=1) != 0, axis=-1)
    np.testing.assert_allclose(
        np.asarray(kept.acceptance_rate), moved[:, num_warmup - 1 :].mean(axis=1), rtol=1e-6
    )


def test_acceptance_rate_is_the_share_of_moves():
    pos = _positions(16)
    result = jaxmh.sample(jax.random.key(3), _KERNEL, pos, num_samples=400)
    a = np.concatenate([pos["a"][:, None], np.asarray(result.draws["a"])], axis=1)
    moved = np.any(np.diff(a, axis=1) != 0, axis=-1)
    np.testing.assert_allclose(np.asarray(result.acceptance_rate), moved.mean(axis=1), rtol=1e-6)
    assert 0.1 < moved.mean() < 0.9


def test_rbg_keys_fall_back_to_jax_random_and_sample_the_target():
    algo = jaxmh.rwm(lambda x: -0.5 * jnp.sum((x - 2.0) ** 2), 2.4)
    result = jaxmh.sample(jax.random.key(0, impl="rbg"), algo, np.zeros((16, 1), np.float32), num_samples=5_000,
                          num_warmup=200)
    est, mcse = batch_means(np.asarray(result.draws)[..., 0], 5)
    assert_within_mcse(est, 2.0, mcse, what="mean with rbg keys")
    # Raw uint32 key data (old-style jax.random.PRNGKey) is accepted too.
    r1 = jaxmh.sample(jax.random.PRNGKey(3), algo, np.zeros((2, 1), np.float32), num_samples=5)
    r2 = jaxmh.sample(jax.random.wrap_key_data(jax.random.PRNGKey(3)), algo, np.zeros((2, 1), np.float32), num_samples=5)
    _assert_trees_equal(r1, r2)


# --------------------------------------------------------------------------------------
# 10. Continuing from Result.final_state
# --------------------------------------------------------------------------------------


def test_final_state_continues_the_chains(x64):
    num_chains = 64
    pos = jax.tree.map(lambda v: v.astype(np.float64), _positions(num_chains))
    first = jaxmh.sample(jax.random.key(1), _KERNEL, pos, num_samples=100, num_warmup=10, thin=2)
    final = first.final_state
    # The final state is the last draw, with its log-density carried along.
    _assert_trees_equal(final.position, jax.tree.map(lambda v: v[:, -1], first.draws))
    np.testing.assert_allclose(
        np.asarray(final.logdensity), np.asarray(jax.vmap(_logdensity)(final.position)), rtol=1e-12
    )

    key2 = jax.random.key(2)
    second = jaxmh.sample(key2, _KERNEL, final, num_samples=30)
    assert second.draws["a"].shape == (num_chains, 30, 3)
    # The first new draw of every chain is the final position (rejected: bit for bit)
    # or one proposal away from it.  Reproduce that proposal with the documented key
    # scheme: chain c uses fold_in(key, c), its step t fold_in(fold_in(key, c), t).
    chains = jnp.arange(num_chains, dtype=jnp.uint32)
    step_keys = jax.vmap(lambda c: _threefry.fold_in(_threefry.fold_in(key2, c), jnp.uint32(0)))(chains)
    _, info = jax.jit(jax.vmap(_KERNEL.step))(step_keys, final)
    accepted = np.asarray(info.is_accepted)
    for leaf in ("a", "b"):
        got = np.asarray(second.draws[leaf][:, 0])
        start = np.asarray(final.position[leaf])
        proposal = np.asarray(info.proposal.position[leaf])
        np.testing.assert_array_equal(got[~accepted], start[~accepted])
        # Compiled inside the sampler's scan, the proposal may differ in the last bits.
        np.testing.assert_allclose(got[accepted], proposal[accepted], rtol=1e-12, atol=1e-14)
        assert np.all(np.any((got != start).reshape(num_chains, -1), axis=1) == accepted)
    assert 0 < accepted.sum() < num_chains

    # Continuing in pieces samples the same target: the pooled draws of both runs
    # have the right mean of b (= 1).
    both = np.concatenate([np.asarray(first.draws["b"]), np.asarray(second.draws["b"])], axis=1)
    est, mcse = batch_means(both, 1)
    assert_within_mcse(est, 1.0, mcse, what="mean of b")


def test_flat_vector_run_is_the_leaf_by_leaf_chain():
    """sample runs jaxmh.rwm on one ravelled vector per chain (jaxmh._flat); a kernel the
    driver does not recognise runs leaf by leaf.  Same noise, same sums: the same chain
    (up to the last bit of a fused multiply-add), with per-coordinate step sizes too."""
    step = {"a": np.array([0.5, 1.0, 2.0], np.float32), "b": 1.5}
    kernel = jaxmh.rwm(_logdensity, step)
    leafwise = jaxmh.kernels.SamplingAlgorithm(kernel.init, lambda k, s: kernel.step(k, s))
    start = _positions(3)
    flat = jaxmh.sample(jax.random.key(4), kernel, start, num_samples=300, num_warmup=20)
    ref = jaxmh.sample(jax.random.key(4), leafwise, start, num_samples=300, num_warmup=20)
    for leaf in ("a", "b"):
        np.testing.assert_allclose(flat.draws[leaf], ref.draws[leaf], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(flat.final_state.position[leaf], ref.final_state.position[leaf],
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(flat.acceptance_rate, ref.acceptance_rate)
    assert 0.2 < float(jnp.mean(flat.acceptance_rate)) < 0.9


def test_unhashable_logdensity_objects_work():
    """A callable object defining __eq__ (so not hashable) is a valid log-density."""

    class Logdensity:
        def __eq__(self, other):
            return isinstance(other, Logdensity)

        def __call__(self, p):
            return _logdensity(p)

    result = jaxmh.sample(jax.random.key(0), jaxmh.rwm(Logdensity(), 1.0), _positions(2), num_samples=200)
    assert result.draws["a"].shape == (2, 200, 3)
    assert np.all(np.isfinite(np.asarray(result.draws["b"])))


def test_mixed_dtype_positions_run_leaf_by_leaf(x64):
    """Ravelling would promote a float32 leaf to float64; such positions keep their dtypes."""
    start = {"a": np.zeros((2, 3), np.float32), "b": np.zeros(2, np.float64)}
    result = jaxmh.sample(jax.random.key(0), _KERNEL, start, num_samples=50)
    assert result.draws["a"].dtype == jnp.float32 and result.draws["b"].dtype == jnp.float64
    assert result.final_state.position["a"].dtype == jnp.float32


def test_continuing_with_a_kernel_of_mismatched_step_size_structure_raises():
    pos = {"a": np.zeros((2, 3), np.float32), "b": np.zeros((2,), np.float32)}
    result = jaxmh.sample(jax.random.key(0), _KERNEL, pos, num_samples=5)
    # Leaves sort as a, aa, b: without validation, b would get the step size 100.
    wrong = jaxmh.rwm(_logdensity, {"a": 0.8, "aa": 100.0, "b": 1e-3})
    with pytest.raises(ValueError, match="step_size"):
        jaxmh.sample(jax.random.key(1), wrong, result.final_state, num_samples=5)


# --------------------------------------------------------------------------------------
# 8. Validation of sample()'s arguments
# --------------------------------------------------------------------------------------


def test_nonfinite_initial_logdensity_names_chain_and_leaves():
    def logdensity(p):
        return jnp.where(p["scale"] > 0, -0.5 * jnp.sum(p["loc"] ** 2) - p["scale"], -jnp.inf)

    algo = jaxmh.rwm(logdensity, 0.5)
    pos = {"loc": np.zeros((4, 2), np.float32), "scale": np.array([1.0, 2.0, -1.0, 3.0], np.float32)}
    with pytest.raises(ValueError) as err:
        jaxmh.sample(jax.random.key(0), algo, pos, num_samples=10)
    msg = str(err.value)
    assert re.search(r"chain\D*\b2\b", msg), msg
    assert "loc" in msg and "scale" in msg, msg

    # A log-density that is NaN at a starting point is reported the same way.
    def nan_logdensity(p):
        return jnp.where(p["scale"] > 0, -p["scale"], jnp.nan)

    with pytest.raises(ValueError, match=r"chain\D*\b2\b"):
        jaxmh.sample(jax.random.key(0), jaxmh.rwm(nan_logdensity, 0.5), pos, num_samples=10)


def test_nonfinite_initial_position_names_the_leaf_and_chain():
    pos = {"loc": np.zeros((3, 2), np.float32), "scale": np.ones(3, np.float32)}
    pos["loc"][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"loc.*\b1\b"):
        jaxmh.sample(jax.random.key(0), jaxmh.rwm(lambda p: -jnp.sum(p["loc"] ** 2), 0.5), pos, num_samples=10)


def test_non_scalar_logdensity_raises():
    algo = jaxmh.rwm(lambda x: -0.5 * x**2, 0.5)
    with pytest.raises(ValueError, match="scalar"):
        jaxmh.sample(jax.random.key(0), algo, np.zeros((2, 3), np.float32), num_samples=10)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(num_samples=0), ValueError, "num_samples"),
        (dict(num_samples=-5), ValueError, "num_samples"),
        (dict(thin=0), ValueError, "thin"),
        (dict(thin=-1), ValueError, "thin"),
        (dict(num_warmup=-1), ValueError, "num_warmup"),
        (dict(num_samples=10.0), TypeError, "num_samples"),
        (dict(num_samples="10"), TypeError, "num_samples"),
        (dict(num_samples=True), TypeError, "num_samples"),
        (dict(thin=2.5), TypeError, "thin"),
        (dict(num_warmup=1.0), TypeError, "num_warmup"),
        (dict(num_warmup=None), TypeError, "num_warmup"),
    ],
)
def test_bad_counts_raise(kwargs, error, name):
    args = dict(num_samples=10, num_warmup=0, thin=1)
    args.update(kwargs)
    with pytest.raises(error, match=name):
        jaxmh.sample(jax.random.key(0), _KERNEL, _positions(2), num_samples=args.pop("num_samples"), **args)


def test_numpy_integer_counts_are_accepted():
    result = jaxmh.sample(jax.random.key(0), _KERNEL, _positions(2), num_samples=np.int64(4), num_warmup=np.int32(2),
                          thin=np.uint8(2))
    assert result.draws["b"].shape == (2, 4)


@pytest.mark.parametrize(
    "key",
    [0, 1.5, "key", None, np.array([0.0, 1.0]), np.array([0, 1], np.int32), jnp.zeros(2, jnp.float32)],
    ids=["int", "float", "str", "none", "float-array", "int32-array", "jax-float-array"],
)
def test_key_must_be_a_prng_key(key):
    with pytest.raises(TypeError, match="key"):
        jaxmh.sample(key, _KERNEL, _positions(2), num_samples=5)


def test_key_array_with_several_keys_raises():
    with pytest.raises(ValueError, match="key"):
        jaxmh.sample(jax.random.split(jax.random.key(0), 3), _KERNEL, _positions(2), num_samples=5)


def test_kernel_must_have_init_and_step():
    with pytest.raises(TypeError, match="kernel"):
        jaxmh.sample(jax.random.key(0), _logdensity, _positions(2), num_samples=5)


def test_initial_positions_must_agree_on_the_chain_count():
    pos = {"a": np.zeros((4, 3), np.float32), "b": np.zeros((3,), np.float32)}
    with pytest.raises(ValueError, match="chains") as err:
        jaxmh.sample(jax.random.key(0), _KERNEL, pos, num_samples=5)
    assert "a" in str(err.value) and "b" in str(err.value)


@pytest.mark.parametrize(
    "pos, error",
    [
        ({"a": np.zeros((0, 3), np.float32), "b": np.zeros((0,), np.float32)}, ValueError),
        ({"a": np.zeros((2, 3), np.float32), "b": np.float32(0.0)}, ValueError),
        ({}, ValueError),
    ],
    ids=["zero-chains", "scalar-leaf", "empty"],
)
def test_malformed_initial_positions_raise(pos, error):
    with pytest.raises(error, match="initial_positions"):
        jaxmh.sample(jax.random.key(0), _KERNEL, pos, num_samples=5)


def test_non_numeric_initial_positions_raise_type_error():
    pos = {"a": np.array([["x"] * 3] * 2), "b": np.zeros(2, np.float32)}
    with pytest.raises(TypeError):
        jaxmh.sample(jax.random.key(0), _KERNEL, pos, num_samples=5)


# --------------------------------------------------------------------------------------
# The MCSE helper used throughout the suite
# --------------------------------------------------------------------------------------


def test_batch_means_mcse_matches_ar1_theory():
    """For AR(1) with coefficient rho, Var(mean of n) -> sigma^2 (1 + rho) / ((1 - rho) n)."""
    rho, num_chains, n = 0.9, 200, 5_000
    rng = np.random.default_rng(0)
    eps = rng.normal(size=(num_chains, n))
    x = np.empty_like(eps)
    x[:, 0] = eps[:, 0] / np.sqrt(1 - rho**2)  # stationary start
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + eps[:, t]
    theory = np.sqrt((1 / (1 - rho**2)) * (1 + rho) / (1 - rho) / (num_chains * n))
    for batches in (1, 5):
        est, mcse = batch_means(x, batches)
        # The MCSE estimate from >= 200 batches has relative sd ~ 1 / sqrt(400) = 5%.
        assert abs(mcse / theory - 1) < 0.2, (batches, mcse, theory)
        assert abs(est) < 4 * theory
