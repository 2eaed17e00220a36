"""The random-walk Metropolis kernel: correctness of the transition and of the target it samples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from conftest import assert_within_mcse, batch_means
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxmh
from jaxmh.kernels import RWInfo, RWState, build_kernel


def _vmapped_step(kernel, logdensity, step_size, state, keys):
    """One transition from the same ``state`` for each key in ``keys``."""
    step = jax.jit(jax.vmap(lambda k: kernel(k, state, logdensity, step_size)))
    return step(keys)


# --------------------------------------------------------------------------------------
# 1. A correlated 10-D Gaussian: mean and covariance
# --------------------------------------------------------------------------------------


def test_recovers_mean_and_covariance_of_correlated_gaussian():
    d = 10
    mean = np.linspace(-2.0, 3.0, d)
    sds = np.linspace(0.5, 2.0, d)
    signs = np.array([1, -1, 1, 1, -1, 1, -1, -1, 1, 1.0])
    corr = 0.6 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d))) * np.outer(signs, signs)
    cov = sds[:, None] * corr * sds[None, :]
    prec = np.linalg.inv(cov)
    mean_j, prec_j = jnp.asarray(mean, jnp.float32), jnp.asarray(prec, jnp.float32)

    def logdensity(p):
        r = p["x"] - mean_j
        return -0.5 * r @ prec_j @ r

    num_chains, num_draws, batches = 64, 20_000, 10
    kernel = jaxmh.rwm(logdensity, {"x": jnp.asarray(2.38 / np.sqrt(d) * sds, jnp.float32)})
    rng = np.random.default_rng(1)
    init = {"x": (mean + 3 * sds * rng.normal(size=(num_chains, d))).astype(np.float32)}
    result = jaxmh.sample(jax.random.key(7), kernel, init, num_samples=num_draws, num_warmup=2_000)
    x = np.asarray(result.draws["x"], np.float64)
    assert x.shape == (num_chains, num_draws, d)

    # Means: batch means over 64 chains x 10 batches of 2,000 steps (>> autocorrelation time).
    est, mcse = batch_means(x, batches)
    # The MCSE must be small enough for the test to have power (ESS > 2,000 per coordinate).
    assert np.all(mcse < sds / np.sqrt(2_000))
    assert_within_mcse(est, mean, mcse, z=4.0, what="mean")

    # Covariance: E[(x_i - m_i)(x_j - m_j)] = cov_ij; the MCSE of each product's mean
    # comes from the batch means of the products.  55 distinct entries are checked
    # jointly, so z = 4.5 (two-sided 6.8e-6 each; Bonferroni family-wise < 4e-4).
    length = num_draws // batches
    centred = (x - mean).reshape(num_chains, batches, length, d)
    product_batches = np.einsum("cbli,cblj->cbij", centred, centred) / length
    cov_est, cov_mcse = batch_means(product_batches, batches)
    upper = np.triu_indices(d)
    assert_within_mcse(cov_est[upper], cov[upper], cov_mcse[upper], z=4.5, what="covariance")
    # ...and with enough precision that a wrong sign of a correlation would be detected.
    assert np.all(cov_mcse[upper] < 0.05 * np.sqrt(np.outer(sds**2, sds**2))[upper])


# --------------------------------------------------------------------------------------
# 2. The acceptance probability is min(1, exp(delta))
# --------------------------------------------------------------------------------------


def _logdensity_np(a, b):
    return -0.5 * np.sum(((a - 1.0) / 2.0) ** 2, axis=-1) - 0.25 * b**4


def _logdensity_jax(p):
    return -0.5 * jnp.sum(((p["a"] - 1.0) / 2.0) ** 2) - 0.25 * p["b"] ** 4


def test_acceptance_probability_matches_hand_computation(x64):
    kernel = build_kernel()
    step_size = {"a": 1.5, "b": 0.7}
    position = {"a": jnp.array([0.3, -1.2, 2.5]), "b": jnp.array(0.9)}
    state = jaxmh.kernels.init(position, _logdensity_jax)
    assert state.logdensity.dtype == jnp.float64
    num_keys = 20_000
    new_state, info = _vmapped_step(
        kernel, _logdensity_jax, step_size, state, jax.random.split(jax.random.key(3), num_keys)
    )
    assert isinstance(info, RWInfo) and isinstance(new_state, RWState)

    prop_a = np.asarray(info.proposal.position["a"], np.float64)
    prop_b = np.asarray(info.proposal.position["b"], np.float64)
    here = _logdensity_np(np.asarray(position["a"]), float(position["b"]))
    there = _logdensity_np(prop_a, prop_b)
    np.testing.assert_allclose(np.asarray(info.proposal.logdensity), there, rtol=1e-12)
    delta = there - here
    expected = np.minimum(1.0, np.exp(delta))
    np.testing.assert_allclose(np.asarray(info.acceptance_prob), expected, rtol=1e-12, atol=0)
    assert 0.05 < expected.mean() < 0.95  # both outcomes are common: the test has teeth

    accepted = np.asarray(info.is_accepted)
    # An uphill move (delta >= 0) is always accepted.
    assert accepted[delta >= 0].all()
    # The new state is the proposal if accepted, the old state otherwise; its
    # log-density is carried along with it.
    for leaf, old in (("a", position["a"]), ("b", position["b"])):
        got = np.asarray(new_state.position[leaf])
        prop = np.asarray(info.proposal.position[leaf])
        mask = accepted.reshape((-1,) + (1,) * (got.ndim - 1))
        np.testing.assert_array_equal(got, np.where(mask, prop, np.asarray(old)))
    np.testing.assert_array_equal(
        np.asarray(new_state.logdensity), np.where(accepted, np.asarray(info.proposal.logdensity), here)
    )

    # Given the proposal, acceptance is Bernoulli(acceptance_prob): within each bin
    # of acceptance_prob, #accepted - sum(prob) has variance sum(p (1 - p)).
    prob = np.asarray(info.acceptance_prob)
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0 - 1e-12]
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (prob >= lo) & (prob < hi)
        assert inside.sum() > 200
        sd = np.sqrt(np.sum(prob[inside] * (1 - prob[inside])))
        assert abs(accepted[inside].sum() - prob[inside].sum()) < 4 * sd, (lo, hi)


@pytest.mark.parametrize(
    "delta, expected",
    [(np.log(0.25), 0.25), (np.log(0.8), 0.8), (-3.0, np.exp(-3.0)), (0.0, 1.0), (1.5, 1.0)],
)
def test_acceptance_frequency_for_a_known_delta(x64, delta, expected):
    """A log-density that is 0 at the current point and ``delta`` everywhere else.

    Every proposal (almost surely not the current point) has the same, hand-computed
    acceptance probability min(1, exp(delta)); acceptance must happen with that frequency.
    """

    def logdensity(p):
        return jnp.where(jnp.all(p == 0.0), 0.0, delta)

    algo = jaxmh.rwm(logdensity, step_size=0.3)
    state = algo.init(jnp.zeros(2))
    n = 20_000
    _, info = jax.jit(jax.vmap(algo.step, in_axes=(0, None)))(
        jax.random.split(jax.random.key(11), n), state
    )
    np.testing.assert_allclose(np.asarray(info.proposal.logdensity), delta, rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(info.acceptance_prob), expected, rtol=1e-14)
    rate = np.asarray(info.is_accepted).mean()
    if expected == 1.0:
        assert rate == 1.0
    else:
        assert abs(rate - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


# --------------------------------------------------------------------------------------
# 3. The proposal: N(x, step_size^2) per leaf, symmetric
# --------------------------------------------------------------------------------------


def test_proposal_increments_have_the_per_leaf_step_size(x64):
    step_size = {"a": jnp.array([0.1, 1.0, 3.0]), "b": 0.5}
    position = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array(4.0)}
    algo = jaxmh.rwm(lambda p: 0.0 * p["b"], step_size)
    state = algo.init(position)
    n = 20_000
    _, info = jax.jit(jax.vmap(algo.step, in_axes=(0, None)))(
        jax.random.split(jax.random.key(5), n), state
    )
    z = np.column_stack(
        [
            (np.asarray(info.proposal.position["a"]) - np.asarray(position["a"])) / np.asarray(step_size["a"]),
            (np.asarray(info.proposal.position["b"]) - 4.0) / 0.5,
        ]
    )
    # Standardised increments: mean 0 (sd 1/sqrt(n)), variance 1 (sd sqrt(2/n)), uncorrelated.
    assert np.all(np.abs(z.mean(axis=0)) < 4 / np.sqrt(n))
    assert np.all(np.abs(z.var(axis=0) - 1) < 4 * np.sqrt(2 / n))
    off = np.corrcoef(z.T)[np.triu_indices(4, 1)]
    assert np.all(np.abs(off) < 4 / np.sqrt(n))
    for j in range(4):
        assert scipy.stats.kstest(z[:, j], "norm").pvalue > 1e-4
    # The flat target accepts everything.
    assert np.asarray(info.is_accepted).all()


# --------------------------------------------------------------------------------------
# 4. Non-finite proposals are never accepted
# --------------------------------------------------------------------------------------


def _awkward_logdensity(x):
    """N(1, 1) on [0, 5]; -inf below 0, +inf on (5, 6], NaN above 6."""
    x = jnp.squeeze(x)
    inside = -0.5 * (x - 1.0) ** 2
    return jnp.where(x < 0, -jnp.inf, jnp.where(x <= 5, inside, jnp.where(x <= 6, jnp.inf, jnp.nan)))


def test_nonfinite_proposals_are_rejected_in_a_single_step(x64):
    algo = jaxmh.rwm(_awkward_logdensity, step_size=3.0)
    state = algo.init(jnp.array([4.5]))
    n = 5_000
    new_state, info = jax.jit(jax.vmap(algo.step, in_axes=(0, None)))(
        jax.random.split(jax.random.key(2), n), state
    )
    prop = np.asarray(info.proposal.position)[:, 0]
    ld = np.asarray(info.proposal.logdensity)
    finite = np.isfinite(ld)
    # Every kind of non-finite value is proposed many times.
    assert (prop < 0).sum() > 100 and ((prop > 5) & (prop <= 6)).sum() > 100 and (prop > 6).sum() > 100
    assert np.isneginf(ld[prop < 0]).all()
    assert np.isposinf(ld[(prop > 5) & (prop <= 6)]).all()
    assert np.isnan(ld[prop > 6]).all()
    assert not np.asarray(info.is_accepted)[~finite].any()
    np.testing.assert_array_equal(np.asarray(info.acceptance_prob)[~finite], 0.0)
    np.testing.assert_array_equal(np.asarray(new_state.position)[~finite, 0], 4.5)
    np.testing.assert_array_equal(np.asarray(new_state.logdensity)[~finite], float(state.logdensity))
    assert np.isfinite(np.asarray(new_state.logdensity)).all()
    assert np.asarray(info.is_accepted)[finite].any()


def test_sampling_a_target_with_nonfinite_regions_stays_in_the_support():
    algo = jaxmh.rwm(_awkward_logdensity, step_size=2.0)
    num_chains = 32
    init = np.linspace(0.5, 4.5, num_chains)[:, None].astype(np.float32)
    result = jaxmh.sample(jax.random.key(9), algo, init, num_samples=10_000, num_warmup=500)
    x = np.asarray(result.draws, np.float64)[..., 0]
    assert np.all((x >= 0) & (x <= 5))
    assert np.isfinite(np.asarray(result.final_state.logdensity)).all()
    # ...and it samples N(1, 1) truncated to [0, 5].
    truth = scipy.stats.truncnorm(-1.0, 4.0, loc=1.0, scale=1.0)
    est, mcse = batch_means(x, 10)
    assert_within_mcse(est, truth.mean(), mcse, what="truncated-normal mean")
    est2, mcse2 = batch_means((x - truth.mean()) ** 2, 10)
    assert_within_mcse(est2, truth.var(), mcse2, what="truncated-normal variance")


# --------------------------------------------------------------------------------------
# 5. step_size validation at jaxmh.rwm(...)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step_size",
    [0.0, -1.0, float("nan"), float("inf"), np.array([0.1, 0.0]), {"a": 0.1, "b": -0.2},
     {"a": 0.1, "b": float("nan")}, {"a": jnp.array([0.1, -1e-9]), "b": 1.0}],
    ids=["zero", "negative", "nan", "inf", "array-with-zero", "leaf-negative", "leaf-nan",
         "leaf-array-negative"],
)
def test_rwm_rejects_nonpositive_step_size(step_size):
    with pytest.raises(ValueError, match="step_size"):
        jaxmh.rwm(lambda p: 0.0, step_size)


def test_rwm_rejects_empty_or_non_numeric_step_size_and_non_callable():
    with pytest.raises(ValueError, match="step_size"):
        jaxmh.rwm(lambda p: 0.0, {})
    with pytest.raises(TypeError, match="step_size"):
        jaxmh.rwm(lambda p: 0.0, {"a": "big"})
    with pytest.raises(TypeError, match="logdensity_fn"):
        jaxmh.rwm(3.0, 1.0)


@pytest.mark.parametrize(
    "step_size",
    [{"a": 0.1}, {"a": 0.1, "b": 0.1, "c": 0.1}, {"a": 0.1, "c": 0.1}, [0.1, 0.1],
     {"a": jnp.ones(4), "b": 0.1}, {"a": jnp.ones((2, 3)), "b": 0.1}],
    ids=["missing-leaf", "extra-leaf", "renamed-leaf", "list", "wrong-shape", "wrong-rank"],
)
def test_wrong_step_size_structure_raises(step_size):
    algo = jaxmh.rwm(lambda p: -jnp.sum(p["a"] ** 2) - p["b"] ** 2, step_size)
    position = {"a": jnp.zeros(3), "b": jnp.zeros(())}
    with pytest.raises(ValueError, match="step_size"):
        algo.init(position)
    with pytest.raises(ValueError, match="step_size"):  # 3 chains: a (2, 3) leaf is not per chain either
        jaxmh.sample(jax.random.key(0), algo, jax.tree.map(lambda v: jnp.stack([v, v, v]), position),
                     num_samples=5)


_positive = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.one_of(_positive, st.lists(_positive, min_size=3, max_size=3).map(np.array)),
    b=_positive,
    c=_positive,
)
def test_any_positive_step_size_pytree_of_the_right_structure_is_accepted(a, b, c):
    step_size = {"a": a, "inner": {"b": b, "c": np.float32(c)}}
    position = {"a": jnp.zeros(3), "inner": {"b": jnp.ones(()), "c": jnp.full((2,), 2.0)}}

    def logdensity(p):
        return -0.5 * sum(jnp.sum(v**2) for v in jax.tree.leaves(p))

    algo = jaxmh.rwm(logdensity, step_size)
    state = algo.init(position)
    new_state, info = algo.step(jax.random.key(0), state)
    assert jax.tree.structure(new_state.position) == jax.tree.structure(position)
    for got, want in zip(jax.tree.leaves(info.proposal.position), jax.tree.leaves(position)):
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.isfinite(np.asarray(got)).all()
    # The proposal moved each leaf by at most ~6 step sizes.
    scales = [np.asarray(a), b, np.float32(c)]
    for got, want, s in zip(jax.tree.leaves(info.proposal.position), jax.tree.leaves(position), scales):
        assert np.all(np.abs(np.asarray(got) - np.asarray(want)) <= 6.5 * s * (1 + 1e-6) + 1e-6)
