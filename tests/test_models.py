"""Models: exact log-densities against scipy, and posterior properties on the tutorial's R data."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as ss
from conftest import assert_within_mcse, batch_means, ols_by_group

import jaxmh
from jaxmh import logpdf
from jaxmh.data import GroupedData
from jaxmh.priors import HalfCauchy, HalfNormal, Normal, Uniform

# --------------------------------------------------------------------------------------
# Ragged data with awkward groups
# --------------------------------------------------------------------------------------


def _ragged_data() -> GroupedData:
    """Groups of sizes 1, 2, 7 (all x equal, and not exactly representable), 30 and 4, rows shuffled."""
    rng = np.random.default_rng(123)
    sizes = [1, 2, 7, 30, 4]
    group = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=group.size) * 1.5 + 0.3
    x[group == 2] = 0.1
    alpha = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    beta = np.array([0.5, 1.5, -1.0, -2.0, 0.2])
    y = alpha[group] + beta[group] * x + rng.normal(size=group.size) * 0.8
    order = rng.permutation(group.size)
    return GroupedData(x[order], y[order], group[order])


def _uniform(x, low, high):
    return ss.uniform.logpdf(x, loc=low, scale=high - low)


def _likelihood(data, alpha_rows, beta_rows, sigma):
    """Sum over the raw rows of log N(y | alpha + beta x, sigma^2)."""
    with np.errstate(over="ignore"):  # sigma = 5e-324: (y - mu) / sigma overflows to inf
        return float(np.sum(ss.norm.logpdf(data.y, loc=alpha_rows + beta_rows * data.x, scale=sigma)))


def _ref_pooled(p, data):
    prior = _uniform(p["alpha"], -100, 100) + _uniform(p["beta"], -100, 100) + _uniform(p["sigma"], 0, 10)
    if not (np.isfinite(prior) and p["sigma"] > 0):
        return -np.inf  # zero density: outside the prior's support, or sigma = 0
    return prior + _likelihood(data, p["alpha"], p["beta"], p["sigma"])


def _ref_unpooled(p, data):
    prior = (
        np.sum(_uniform(p["alpha"], -100, 100))
        + np.sum(_uniform(p["beta"], -100, 100))
        + _uniform(p["sigma"], 0, 10)
    )
    if not (np.isfinite(prior) and p["sigma"] > 0):
        return -np.inf
    g = data.group
    return prior + _likelihood(data, p["alpha"][g], p["beta"][g], p["sigma"])


def _ref_hierarchical(p, data, priors=None):
    priors = priors or {}
    mu_a = priors.get("mu_alpha", lambda v: ss.norm.logpdf(v, 0, 3))
    mu_b = priors.get("mu_beta", lambda v: ss.norm.logpdf(v, 0, 3))
    s_a = priors.get("sigma_alpha", lambda v: _uniform(v, 0, 10))
    s_b = priors.get("sigma_beta", lambda v: _uniform(v, 0, 10))
    s = priors.get("sigma", lambda v: _uniform(v, 0, 10))
    hyper = mu_a(p["mu_alpha"]) + mu_b(p["mu_beta"]) + s_a(p["sigma_alpha"]) + s_b(p["sigma_beta"]) + s(p["sigma"])
    if not (np.isfinite(hyper) and p["sigma_alpha"] > 0 and p["sigma_beta"] > 0 and p["sigma"] > 0):
        return -np.inf
    groups = np.sum(ss.norm.logpdf(p["alpha"], p["mu_alpha"], p["sigma_alpha"])) + np.sum(
        ss.norm.logpdf(p["beta"], p["mu_beta"], p["sigma_beta"])
    )
    g = data.group
    return hyper + groups + _likelihood(data, p["alpha"][g], p["beta"][g], p["sigma"])


def _random_points(rng, num_groups, kind, n=150):
    """Points inside and outside the support (about a third outside)."""
    G = num_groups

    def loc(shape):
        # mostly moderate, sometimes beyond the flat priors' +-100
        v = rng.normal(size=(n,) + shape) * 3.0
        far = rng.random(size=(n,) + shape) < 0.02
        return np.where(far, rng.choice([-1, 1], size=(n,) + shape) * rng.uniform(99, 120, (n,) + shape), v)

    def scale():
        return rng.uniform(-1.0, 11.0, size=n)

    if kind == "pooled":
        pts = {"alpha": loc(()), "beta": loc(()), "sigma": scale()}
    elif kind == "unpooled":
        pts = {"alpha": loc((G,)), "beta": loc((G,)), "sigma": scale()}
    else:
        pts = {
            "alpha": loc((G,)), "beta": loc((G,)), "mu_alpha": loc(()) * 2, "mu_beta": loc(()),
            "sigma_alpha": scale(), "sigma_beta": scale(), "sigma": scale(),
        }
    return pts


def _edge_points(num_groups, kind):
    """Hand-picked boundary cases: closed-interval ends, just outside, zero and tiny scales."""
    G = num_groups
    base = {"alpha": np.linspace(-1, 1, G), "beta": np.linspace(2, -2, G), "sigma": 1.3}
    if kind == "pooled":
        base = {"alpha": 0.7, "beta": -1.1, "sigma": 1.3}
    if kind == "hierarchical":
        base.update(mu_alpha=0.4, mu_beta=-0.9, sigma_alpha=1.1, sigma_beta=0.8)
    edits = [
        {},
        {"sigma": 10.0},
        {"sigma": np.nextafter(10.0, 11.0)},
        {"sigma": 0.0},
        {"sigma": -0.5},
        {"sigma": 1e-3},
        {"sigma": 5e-324},
    ]
    if kind != "hierarchical":
        one = lambda v: v if kind == "pooled" else np.r_[v, base["alpha"][1:]]  # noqa: E731
        edits += [{"alpha": one(100.0)}, {"alpha": one(-100.0)}, {"alpha": one(np.nextafter(-100.0, -101))},
                  {"beta": one(150.0) if kind == "pooled" else np.r_[base["beta"][:-1], 150.0]}]
    else:
        edits += [{"sigma_alpha": 0.0}, {"sigma_alpha": -1.0}, {"sigma_alpha": 10.0},
                  {"sigma_beta": np.nextafter(10.0, 11.0)}, {"sigma_beta": 1e-4},
                  {"mu_alpha": 1e3}, {"mu_beta": -40.0}, {"alpha": base["alpha"] + 50.0}]
    points = []
    for edit in edits:
        p = {k: np.array(v, dtype=np.float64) for k, v in base.items()}
        p.update({k: np.array(v, dtype=np.float64) for k, v in edit.items()})
        points.append(p)
    return {k: np.stack([p[k] for p in points]) for k in points[0]}


_MODELS = {  # the tutorial's models with the tutorial's priors, which the references spell out
    "pooled": (functools.partial(jaxmh.models.pooled, priors="tutorial"), _ref_pooled),
    "unpooled": (functools.partial(jaxmh.models.unpooled, priors="tutorial"), _ref_unpooled),
    "hierarchical": (functools.partial(jaxmh.models.hierarchical, priors="tutorial"), _ref_hierarchical),
}


def _check_logdensity(model, reference, data, points):
    n = len(next(iter(points.values())))
    got = np.asarray(jax.jit(jax.vmap(model.logdensity))(jax.tree.map(jnp.asarray, points)))
    assert got.dtype == np.float64
    want = np.array([reference({k: v[i] for k, v in points.items()}, data) for i in range(n)])
    assert not np.isnan(got).any()
    assert not np.isnan(want).any()
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)
    return want


@pytest.mark.parametrize("kind", list(_MODELS))
def test_logdensity_matches_scipy_on_ragged_groups(x64, kind):
    data = _ragged_data()
    assert sorted(data.group_sizes.tolist()) == [1, 2, 4, 7, 30]
    builder, reference = _MODELS[kind]
    model = builder(data)
    seed = {"pooled": 11, "unpooled": 12, "hierarchical": 13}[kind]
    points = _random_points(np.random.default_rng(seed), data.num_groups, kind)
    want = _check_logdensity(model, reference, data, points)
    # Both kinds of points were exercised.
    assert np.isfinite(want).sum() > 30 and np.isneginf(want).sum() > 15
    edge = _check_logdensity(model, reference, data, _edge_points(data.num_groups, kind))
    assert np.isfinite(edge).sum() >= 4 and np.isneginf(edge).sum() >= 3


@pytest.mark.parametrize("kind", list(_MODELS))
def test_logdensity_matches_scipy_on_the_r_dataset(x64, seed_r, kind):
    data, _ = seed_r
    builder, reference = _MODELS[kind]
    points = _random_points(np.random.default_rng(7), data.num_groups, kind, n=40)
    _check_logdensity(builder(data), reference, data, points)


def test_hierarchical_logdensity_with_other_priors(x64):
    data = _ragged_data()
    model = jaxmh.models.hierarchical(
        data,
        prior_mu_alpha=Normal(1.0, 2.0),
        prior_mu_beta=Uniform(-5.0, 5.0),
        prior_sigma_alpha=HalfNormal(2.0),
        prior_sigma_beta=HalfCauchy(1.5),
        prior_sigma=HalfCauchy(0.5),
    )
    priors = {
        "mu_alpha": lambda v: ss.norm.logpdf(v, 1, 2),
        "mu_beta": lambda v: _uniform(v, -5, 5),
        "sigma_alpha": lambda v: ss.halfnorm.logpdf(v, scale=2.0),
        "sigma_beta": lambda v: ss.halfcauchy.logpdf(v, scale=1.5),
        "sigma": lambda v: ss.halfcauchy.logpdf(v, scale=0.5),
    }
    points = _random_points(np.random.default_rng(3), data.num_groups, "hierarchical", n=100)
    want = _check_logdensity(model, lambda p, d: _ref_hierarchical(p, d, priors), data, points)
    assert np.isfinite(want).sum() > 20 and np.isneginf(want).sum() > 20


# --------------------------------------------------------------------------------------
# logpdf and priors
# --------------------------------------------------------------------------------------


def test_logpdf_functions_match_scipy(x64):
    x = np.concatenate([np.linspace(-5, 15, 201), [0.0, -0.0, 10.0, np.nextafter(10.0, 11), -1e-300]])
    cases = [
        (logpdf.normal(x, 1.5, 2.5), ss.norm.logpdf(x, 1.5, 2.5)),
        (logpdf.uniform(x, -1.0, 10.0), _uniform(x, -1.0, 10.0)),
        (logpdf.half_normal(x, 2.0), ss.halfnorm.logpdf(x, scale=2.0)),
        (logpdf.half_cauchy(x, 0.7), ss.halfcauchy.logpdf(x, scale=0.7)),
    ]
    for got, want in cases:
        got = np.asarray(got)
        assert got.dtype == np.float64 and not np.isnan(got).any()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    # Non-positive scales give -inf, not NaN.
    for fn in (lambda s: logpdf.normal(0.3, 0.0, s), lambda s: logpdf.half_normal(0.3, s),
               lambda s: logpdf.half_cauchy(0.3, s)):
        for s in (0.0, -1.0):
            assert np.isneginf(np.asarray(fn(s)))


@pytest.mark.parametrize(
    "make",
    [lambda: Normal(0.0, 0.0), lambda: Normal(0.0, -1.0), lambda: Normal(float("nan"), 1.0),
     lambda: Uniform(1.0, 1.0), lambda: Uniform(2.0, 1.0), lambda: Uniform(0.0, float("inf")),
     lambda: HalfNormal(0.0), lambda: HalfCauchy(-2.0), lambda: HalfCauchy(float("nan"))],
)
def test_invalid_priors_raise(make):
    with pytest.raises(ValueError):
        make()


def test_non_numeric_prior_parameter_raises_type_error():
    with pytest.raises(TypeError):
        Normal("zero", 1.0)


# --------------------------------------------------------------------------------------
# Model objects
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(_MODELS))
def test_model_init_shapes_and_support(seed_r, kind):
    data, _ = seed_r
    model = _MODELS[kind][0](data)
    assert isinstance(model, jaxmh.models.Model)
    assert model.name == kind and model.num_groups == 75 and model.group_params == ("alpha", "beta")
    init = model.init(jax.random.key(0), 6)
    expected = {
        "pooled": {"alpha": (6,), "beta": (6,), "sigma": (6,)},
        "unpooled": {"alpha": (6, 75), "beta": (6, 75), "sigma": (6,)},
        "hierarchical": {"alpha": (6, 75), "beta": (6, 75), "mu_alpha": (6,), "mu_beta": (6,),
                         "sigma_alpha": (6,), "sigma_beta": (6,), "sigma": (6,)},
    }[kind]
    assert {k: v.shape for k, v in init.items()} == expected
    assert np.isfinite(np.asarray(jax.vmap(model.logdensity)(init))).all()
    # Starting values differ between chains and depend on the key.
    assert len(np.unique(np.asarray(init["sigma"]))) == 6
    again = model.init(jax.random.key(0), 6)
    other = model.init(jax.random.key(1), 6)
    np.testing.assert_array_equal(np.asarray(init["sigma"]), np.asarray(again["sigma"]))
    assert not np.array_equal(np.asarray(init["sigma"]), np.asarray(other["sigma"]))


def test_model_argument_validation(seed_r):
    data, _ = seed_r
    with pytest.raises(TypeError, match="GroupedData"):
        jaxmh.models.unpooled({"x": data.x, "y": data.y, "group": data.group})
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    with pytest.raises(ValueError, match="num_chains"):
        model.init(jax.random.key(0), 0)
    with pytest.raises(TypeError, match="num_chains"):
        model.init(jax.random.key(0), 2.0)
    with pytest.raises(TypeError, match="key"):
        model.init(0, 2)


# --------------------------------------------------------------------------------------
# Posterior properties on the tutorial's R dataset
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unpooled_fit(seed_r):
    """Unpooled RWM run on the R data with per-coordinate steps of 2.38/sqrt(151) x OLS se.

    128 chains from the model's own (dispersed) starting values, 5,000 warm-up
    steps, then 15,000 steps thinned by 15.
    """
    data, _ = seed_r
    ols = ols_by_group(data)
    model = jaxmh.models.unpooled(data, priors="tutorial")
    c = 2.38 / np.sqrt(2 * data.num_groups + 1)
    step = {
        "alpha": jnp.asarray(c * ols["se_alpha"], jnp.float32),
        "beta": jnp.asarray(c * ols["se_beta"], jnp.float32),
        "sigma": float(c * ols["se_sigma"]),
    }
    kernel = jaxmh.rwm(model.logdensity, step)
    result = jaxmh.sample(
        jax.random.key(2024), kernel, model.init(jax.random.key(1), 128), num_samples=1_000, num_warmup=5_000, thin=15
    )
    return ols, result


def test_unpooled_posterior_means_equal_per_group_ols(unpooled_fit):
    """Flat priors: the posterior of (alpha_i, beta_i) is a multivariate t centred at OLS."""
    ols, result = unpooled_fit
    for name in ("alpha", "beta"):
        draws = np.asarray(result.draws[name], np.float64)  # (128, 1000, 75)
        # One batch per chain: 128 independent chain means, each over 15,000 steps
        # (>> the autocorrelation time), is the most conservative MCSE.
        est, mcse = batch_means(draws, 1)
        sd = draws.reshape(-1, draws.shape[-1]).std(axis=0)
        assert np.all(mcse < 0.05 * sd), f"{name}: the run is too short for a sharp test"
        # 75 parameters per leaf, 150 in all: z = 4.5 (two-sided 6.8e-6 each,
        # Bonferroni family-wise < 1.1e-3).
        assert_within_mcse(est, ols[name], mcse, z=4.5, what=f"posterior mean of {name}")


def test_unpooled_posterior_variances_match_the_t_marginals(unpooled_fit):
    """With sigma ~ U(0, 10) and flat (alpha, beta), alpha_i is t with nu = N - 2G - 1
    degrees of freedom, scale^2 = RSS / nu * c_ii; its variance is RSS / (nu - 2) * c_ii
    = se_i^2 * df / (df - 3) with se from s^2 = RSS / df."""
    ols, result = unpooled_fit
    df = ols["df"]
    for name in ("alpha", "beta"):
        draws = np.asarray(result.draws[name], np.float64)
        sq = (draws - ols[name]) ** 2
        est, mcse = batch_means(sq, 1)
        want = ols["se_" + name] ** 2 * df / (df - 3)
        assert np.all(mcse < 0.1 * want)
        assert_within_mcse(est, want, mcse, z=4.5, what=f"posterior variance of {name}")


def test_pooled_posterior_mean_equals_pooled_ols(seed_r):
    data, _ = seed_r
    X = np.column_stack([np.ones(data.num_obs), data.x])
    coef, rss, *_ = np.linalg.lstsq(X, data.y, rcond=None)
    s2 = rss[0] / (data.num_obs - 2)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(X.T @ X)))
    model = jaxmh.models.pooled(data, priors="tutorial")
    c = 2.38 / np.sqrt(3)
    kernel = jaxmh.rwm(model.logdensity, {"alpha": c * se[0], "beta": c * se[1],
                                          "sigma": c * np.sqrt(s2 / (2 * data.num_obs))})
    result = jaxmh.sample(jax.random.key(5), kernel, model.init(jax.random.key(6), 32), num_samples=5_000,
                          num_warmup=1_000)
    for k, name in enumerate(("alpha", "beta")):
        est, mcse = batch_means(result.draws[name], 5)
        assert np.all(mcse < 0.05 * se[k])
        assert_within_mcse(est, coef[k], mcse, what=f"pooled {name}")


def _rmse(estimate, truth):
    return float(np.sqrt(np.mean((estimate - truth) ** 2)))


def test_hierarchical_beats_unpooled_rmse_on_the_r_dataset(seed_r, unpooled_fit):
    """Partial pooling: posterior means of the hierarchical model are closer to the truth.

    The RMSE of Monte Carlo estimates m + e differs from the RMSE of the exact posterior
    means m by at most |e| / sqrt(G) (triangle inequality), which concentrates at
    err = sqrt(mean(MCSE^2)); the comparison allows 4 err on each side.
    """
    data, truth = seed_r
    ols, unpooled = unpooled_fit
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    c = 2.38 / np.sqrt(2 * data.num_groups + 5)
    scales = dict(alpha=0.75, beta=0.8, mu_alpha=0.15, mu_beta=0.15, sigma_alpha=0.15,
                  sigma_beta=0.15, sigma=0.1)  # rough posterior sds
    kernel = jaxmh.rwm(model.logdensity, {k: c * v for k, v in scales.items()})
    hier = jaxmh.sample(jax.random.key(77), kernel, model.init(jax.random.key(78), 64), num_samples=800,
                        num_warmup=4_000, thin=10)
    for name in ("alpha", "beta"):
        est_h, mcse_h = batch_means(hier.draws[name], 1)
        est_u, mcse_u = batch_means(unpooled.draws[name], 1)
        rmse_h, err_h = _rmse(est_h, truth[name]), float(np.sqrt(np.mean(mcse_h**2)))
        rmse_u, err_u = _rmse(est_u, truth[name]), float(np.sqrt(np.mean(mcse_u**2)))
        # The unpooled estimate agrees with the exact answer (OLS) within its MC error.
        assert abs(rmse_u - _rmse(ols[name], truth[name])) < 4 * err_u
        assert rmse_h + 4 * err_h < rmse_u - 4 * err_u, (name, rmse_h, err_h, rmse_u, err_u)


@pytest.mark.parametrize("builder", [jaxmh.models.pooled, jaxmh.models.unpooled, jaxmh.models.intercepts,
                                     jaxmh.models.hierarchical])
def test_passing_simulates_pair_says_to_take_its_data(builder):
    with pytest.raises(TypeError, match=r"simulate returns \(data, truth\)"):
        builder(jaxmh.data.simulate(jax.random.key(0)))
