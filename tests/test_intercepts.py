"""The varying-intercept model: exact log-density, a consistent group split, and the blocked
sampler (which uses the split) agreeing with the joint random walk (which uses the log-density)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.stats as ss

import jaxmh
from jaxmh import diagnostics
from jaxmh.data import GroupedData
from jaxmh.priors import HalfCauchy, HalfNormal, Normal, Uniform


def _data(num_groups=6, seed=0) -> GroupedData:
    """Ragged groups (1 to 9 rows), one with every x equal, rows shuffled."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 10, num_groups)
    group = np.repeat(np.arange(num_groups), sizes)
    x = rng.normal(size=group.size)
    x[group == 1] = 0.7
    alpha = rng.normal(1.0, 0.7, num_groups)
    y = alpha[group] - 0.8 * x + 0.6 * rng.normal(size=group.size)
    order = rng.permutation(group.size)
    return GroupedData(x[order], y[order], group[order])


PRIORS = dict(prior_mu_alpha=Normal(0.5, 2.0), prior_beta=Uniform(-5.0, 5.0),
              prior_sigma_alpha=HalfCauchy(1.5), prior_sigma=HalfNormal(2.0))


def _reference(p, data):
    prior = (ss.norm.logpdf(p["mu_alpha"], 0.5, 2.0) + ss.uniform.logpdf(p["beta"], -5, 10)
             + np.log(2) + ss.cauchy.logpdf(p["sigma_alpha"], 0, 1.5)
             + np.log(2) + ss.norm.logpdf(p["sigma"], 0, 2.0))
    groups = ss.norm.logpdf(p["alpha"], p["mu_alpha"], p["sigma_alpha"]).sum()
    lik = ss.norm.logpdf(data.y, p["alpha"][data.group] + p["beta"] * data.x, p["sigma"]).sum()
    return prior + groups + lik


def test_logdensity_matches_scipy_over_raw_rows(x64):
    data = _data()
    model = jaxmh.models.intercepts(data, **PRIORS)
    rng = np.random.default_rng(1)
    for _ in range(5):
        p = {"alpha": rng.normal(1, 1, 6), "mu_alpha": rng.normal(), "sigma_alpha": rng.uniform(0.1, 2),
             "beta": rng.uniform(-2, 2), "sigma": rng.uniform(0.2, 2)}
        np.testing.assert_allclose(model.logdensity(p), _reference(p, data), rtol=1e-10)
        split = model.split
        np.testing.assert_allclose(split.global_logdensity(p) + np.sum(split.group_logdensity(p)),
                                   model.logdensity(p), rtol=1e-12)
        z, logdet = split.standardize(p)
        np.testing.assert_allclose(split.unstandardize(z, p)["alpha"], p["alpha"], rtol=1e-12)
        np.testing.assert_allclose(logdet, 6 * np.log(p["sigma_alpha"]), rtol=1e-12)
    outside = dict(p, sigma=-1.0)
    assert model.logdensity(outside) == -np.inf
    assert model.logdensity(dict(p, beta=6.0)) == -np.inf


def test_group_terms_hold_only_their_own_group(x64):
    """Changing alpha[g] changes only entry g of group_logdensity (what the blocked sampler relies on)."""
    data = _data()
    model = jaxmh.models.intercepts(data, priors="tutorial")
    p = jax.tree.map(lambda v: np.asarray(v[0], np.float64), model.init(jax.random.key(0), 1))
    base = np.asarray(model.split.group_logdensity(p))
    for g in range(6):
        alpha = p["alpha"].copy()
        alpha[g] += 0.3
        changed = np.asarray(model.split.group_logdensity(dict(p, alpha=alpha))) != base
        assert changed.tolist() == [k == g for k in range(6)]


def test_init_respects_narrow_uniform_priors():
    data = _data()
    with pytest.warns(jaxmh.prior_checks.PriorWarning, match="mu_alpha"):  # the data sit outside them
        model = jaxmh.models.intercepts(data, prior_mu_alpha=Uniform(10.0, 12.0), prior_sigma=Uniform(0.0, 0.2))
    start = model.init(jax.random.key(0), 8)
    assert np.all((start["mu_alpha"] > 10) & (start["mu_alpha"] < 12))
    assert np.all((start["sigma"] > 0) & (start["sigma"] < 0.2))
    assert np.all(np.isfinite(jax.vmap(model.logdensity)(start)))


def test_blocked_sampler_agrees_with_joint_random_walk():
    data = _data()
    model = jaxmh.models.intercepts(data, **PRIORS)
    blocked = jaxmh.fit(jax.random.key(1), model, method="blocked", num_samples=15_000)
    joint = jaxmh.fit(jax.random.key(2), model, method="adaptive", num_chains=8, num_samples=15_000)
    for name in ("alpha", "mu_alpha", "sigma_alpha", "beta", "sigma"):
        a, b = np.asarray(blocked.draws[name], np.float64), np.asarray(joint.draws[name], np.float64)
        assert np.all(diagnostics.ess_bulk(b) > 150), name
        z = np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))) / np.hypot(diagnostics.mcse_mean(a),
                                                                           diagnostics.mcse_mean(b))
        assert np.all(z < 4), (name, z)


def test_intercepts_on_radon_has_the_shape_users_expect():
    data, counties = jaxmh.datasets.radon()
    model = jaxmh.models.intercepts(data, priors="tutorial")
    assert model.name == "intercepts" and model.group_params == ("alpha",) and model.num_groups == 85
    start = model.init(jax.random.key(0), 3)
    assert start["alpha"].shape == (3, 85) and start["beta"].shape == (3,)


@pytest.mark.parametrize("bad", [Normal(0.0, 1.0), 2.0])
def test_intercepts_rejects_bad_scale_priors(bad):
    with pytest.raises((TypeError, ValueError), match="prior_sigma_alpha"):
        jaxmh.models.intercepts(_data(), prior_sigma_alpha=bad)
