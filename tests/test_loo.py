"""PSIS-LOO (issue 15): the model's pointwise log-likelihood, jaxmh.loo against arviz-stats, compare_models."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmh
from jaxmh.models import _regression
from jaxmh.psis_loo import LooWarning, pointwise_loglik

arviz_base = pytest.importorskip("arviz_base")   # the test extra installs arviz-stats[xarray]
arviz_stats = pytest.importorskip("arviz_stats")


def _grouped(seed=0, groups=12, per=6, outlier=None):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    a = 2.0 + rng.normal(size=groups)
    y = a[g] - 1.5 * x + rng.normal(scale=0.8, size=g.size)
    if outlier is not None:
        y[outlier] += 40.0
    return {"y": y, "x": x, "g": np.array([f"site {v}" for v in g])}


def _arviz_loo(result, loglik):
    """arviz-stats's own PSIS-LOO of the same draws (its r_eff from the posterior, as it computes it)."""
    posterior = {k: np.asarray(v, np.float64) for k, v in result.draws.items()}
    tree = arviz_base.from_dict({"posterior": posterior, "log_likelihood": {"y": loglik}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arviz_stats.loo(tree, pointwise=True)


@pytest.fixture(scope="module")
def fitted():
    m = jaxmh.model("y ~ x + (1 | g)", _grouped())
    return jaxmh.fit(jax.random.key(3), m, num_samples=500, progress=False)


def test_pointwise_loglik_is_the_models_likelihood_row_by_row():
    """Summed over rows, each model's pointwise log-likelihood is its log-likelihood (exact identity)."""
    rng = np.random.default_rng(1)
    data = jaxmh.data.simulate(jax.random.key(0), num_groups=8, group_size=4)[0]
    stats = jaxmh.models._common.stats_of(data)
    for build in (jaxmh.models.unpooled, jaxmh.models.hierarchical):
        m = build(data)
        p = {"alpha": jnp.asarray(rng.normal(size=8)), "beta": jnp.asarray(rng.normal(size=8)), "sigma": 1.7}
        np.testing.assert_allclose(jnp.sum(m.pointwise_loglik(p)),
                                   _regression.loglik(p["alpha"], p["beta"], p["sigma"], stats), rtol=1e-5)
    pooled = jaxmh.models.pooled(data)
    p = {"alpha": 0.3, "beta": -1.1, "sigma": 2.2}
    np.testing.assert_allclose(jnp.sum(pooled.pointwise_loglik(p)),
                               _regression.loglik(0.3, -1.1, 2.2, jaxmh.models._common.stats_of(data, True)),
                               rtol=1e-5)


@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
def test_formula_pointwise_is_each_rows_likelihood(family):
    """Each row's value is the family's log-likelihood of that row, written out here with scipy."""
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(5), 4)
    x = rng.normal(size=20)
    if family == "gaussian":
        cols, kw = {"y": rng.normal(size=20), "x": x, "g": g}, {}
    elif family == "poisson":
        cols, kw = {"y": rng.poisson(3, size=20), "x": x, "g": g}, {"family": "poisson"}
    else:
        cols, kw = {"y": rng.binomial(7, 0.4, size=20), "n": np.full(20, 7), "x": x, "g": g}, \
            {"family": "binomial", "trials": "n"}
    m = jaxmh.model("y ~ x + (1 | g)", cols, **kw)
    p = jax.tree.map(lambda v: v[0], m.init(jax.random.key(0), 1))
    # the Gaussian / family log-likelihood of every row, written out here from scratch
    eta = p["Intercept"] + p["x"] * x + p["Intercept|g"][g]
    if family == "gaussian":
        s = p["sigma"]
        want = -0.5 * ((cols["y"] - eta) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
    elif family == "poisson":
        from scipy.stats import poisson
        want = poisson.logpmf(cols["y"], np.exp(eta))
    else:
        from scipy.stats import binom
        want = binom.logpmf(cols["y"], 7, 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(m.pointwise_loglik(p), want, rtol=2e-5, atol=2e-5)


def test_loo_agrees_with_arviz_stats(fitted):
    ll = pointwise_loglik(fitted)
    assert ll.shape == (4, 500, 72)
    ours = jaxmh.loo(fitted)
    theirs = _arviz_loo(fitted, ll)
    assert abs(ours.elpd_loo - float(theirs.elpd)) < 1e-6
    assert abs(ours.se - float(theirs.se)) < 1e-6
    assert abs(ours.p_loo - float(theirs.p)) < 1e-6
    np.testing.assert_allclose(ours.pareto_k, np.asarray(theirs.pareto_k), atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.elpd_i, np.asarray(theirs.elpd_i), atol=1e-6, rtol=0)


def test_high_k_is_found_named_and_agrees_with_arviz_stats():
    """One wild outlier: its Pareto k is above the threshold, the warning names its row, and the numbers
    are still arviz-stats's."""
    m = jaxmh.model("y ~ x + (1 | g)", _grouped(seed=4, outlier=17))
    result = jaxmh.fit(jax.random.key(5), m, num_samples=500, progress=False)
    with pytest.warns(LooWarning, match=r"rows, 0-based: 17\b"):
        ours = jaxmh.loo(result)
    assert 17 in ours.high_k and ours.pareto_k[17] > ours.good_k
    theirs = _arviz_loo(result, pointwise_loglik(result))
    np.testing.assert_allclose(ours.pareto_k, np.asarray(theirs.pareto_k), atol=1e-6, rtol=0)
    assert abs(ours.elpd_loo - float(theirs.elpd)) < 1e-6
    assert "Pareto k > 0.70: " in str(ours) and "17" in str(ours)


def test_loo_of_an_array_is_arviz_stats_array_function():
    rng = np.random.default_rng(7)
    ll = rng.normal(-1.0, 0.3, size=(2, 300, 9))
    ll[:, :, 4] += rng.standard_t(1.5, size=(2, 300))      # a heavy right tail: a high k
    ours = jaxmh.loo(ll, r_eff=0.8, warn=False)
    from arviz_stats.base import array_stats
    elpd_i, k, p_i = array_stats.loo(np.moveaxis(ll, -1, 0), chain_axis=-2, draw_axis=-1, r_eff=0.8)
    np.testing.assert_allclose(ours.pareto_k, k, atol=1e-12)
    np.testing.assert_allclose(ours.elpd_i, elpd_i, atol=1e-12)
    assert abs(ours.se - np.sqrt(9 * np.var(elpd_i))) < 1e-9


def test_loo_bad_input():
    with pytest.raises(ValueError, match=r"\(chain, draw, observation\)"):
        jaxmh.loo(np.zeros((3, 4)))
    ll = np.zeros((2, 10, 3))
    ll[0, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"observation\(s\) 1"):
        jaxmh.loo(ll)
    with pytest.raises(ValueError, match="r_eff"):
        jaxmh.loo(np.zeros((2, 10, 3)), r_eff=-1.0)
    k = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2), 1.0)
    r = jaxmh.sample(jax.random.key(0), k, {"x": jnp.zeros((2, 1))}, num_samples=20)
    with pytest.raises(ValueError, match="which model"):
        jaxmh.loo(r)


def test_compare_models_ranks_and_pairs_the_difference(fitted):
    data = _grouped()
    pooled = jaxmh.fit(jax.random.key(4), jaxmh.model("y ~ x", data), num_samples=500, progress=False)
    ranking = jaxmh.compare_models({"pooled": pooled, "varying intercepts": fitted})
    assert ranking.best == "varying intercepts"             # the groups' intercepts differ by sd 1
    best, other = ranking.rows
    assert best.elpd_diff == 0.0 and best.se_diff == 0.0
    a, b = ranking.loos["pooled"], ranking.loos["varying intercepts"]
    assert other.elpd_diff == pytest.approx(a.elpd_loo - b.elpd_loo)
    assert other.se_diff == pytest.approx(np.sqrt(72 * np.var(a.elpd_i - b.elpd_i)))
    assert other.se_diff < np.hypot(a.se, b.se)              # pairing removes the shared noise
    assert not other.within_noise
    text = str(ranking)
    assert text.splitlines()[1].startswith("varying intercepts") and "worse" in text


def test_compare_models_bad_input(fitted):
    with pytest.raises(ValueError, match="at least two"):
        jaxmh.compare_models({"one": fitted})
    other = jaxmh.fit(jax.random.key(1), jaxmh.model("y ~ x", _grouped(groups=5)), num_samples=100,
                      progress=False)
    with pytest.raises(ValueError, match="different numbers of observations"):
        jaxmh.compare_models({"a": fitted, "b": other})


def test_study_compares_by_loo_on_every_dataset():
    s = jaxmh.study(jax.random.key(1), 3, num_groups=15, group_size=5, num_samples=300, num_warmup=300,
                    batch_size=3, loo=True, models=(jaxmh.models.pooled, jaxmh.models.hierarchical))
    pooled, hier = s["pooled"], s["hierarchical"]
    assert pooled.elpd_loo.shape == (3,) and hier.elpd_loo_i.shape == (3, 75)
    np.testing.assert_allclose(hier.elpd_loo, hier.elpd_loo_i.sum(axis=1), rtol=1e-9)
    agree = s.loo_agreement()
    # slopes and intercepts that vary by 1 sd: the hierarchical model predicts (and estimates) better
    assert agree["loo_best"]["hierarchical"] == 1.0 and agree["truth_best"]["hierarchical"] == 1.0
    assert agree["best"] == 1.0 and "leave-one-out (PSIS-LOO) picks" in s.table()
    assert s.to_dict()["loo_agreement"] == agree
    assert jaxmh.study(jax.random.key(1), 2, num_groups=15, num_samples=50, num_warmup=50, batch_size=2,
                       models=(jaxmh.models.pooled,)).fits[0].elpd_loo is None


def test_study_refuses_loo_for_a_model_without_pointwise_loglik_before_fitting():
    def opaque(data):
        return jaxmh.models.hierarchical(data)._replace(pointwise_loglik=None)

    with pytest.raises(ValueError, match="define no pointwise log-likelihood"):
        jaxmh.study(jax.random.key(0), 2, num_groups=10, num_samples=10, num_warmup=10, batch_size=2,
                    models=(jaxmh.models.pooled, opaque), loo=True)
