"""Data-scaled default priors, the tutorial's priors on request, and the prior checks (issue 11)."""

from __future__ import annotations

import math
import warnings

import jax
import numpy as np
import pytest
from scipy import stats

import jaxmh
from jaxmh import default_priors, prior_checks
from jaxmh.priors import Exponential, HalfNormal, Normal, Uniform


def _reaction_times(seed: int = 0):
    """18 subjects x 10 days, reaction times around 300 ms (the scale that broke the tutorial's priors)."""
    data, _ = jaxmh.data.simulate(jax.random.key(seed), 18, 10, mu_alpha=250.0, sigma_alpha=25.0,
                                  mu_beta=10.0, sigma_beta=6.0, sigma=25.0)
    return data


def test_auto_priors_follow_the_documented_formulas():
    data = _reaction_times()
    my, sy = data.y.mean(), data.y.std(ddof=1)
    mx, sx = data.x.mean(), data.x.std(ddof=1)
    p = default_priors.default_priors("hierarchical", data)
    assert p["mu_alpha"] == Normal(my, 2.5 * sy * math.sqrt(1 + (mx / sx) ** 2))
    assert p["mu_beta"] == Normal(0.0, 2.5 * sy / sx)
    assert p["sigma_alpha"] == Exponential(1 / sy)
    assert p["sigma_beta"] == Exponential(sx / sy)
    assert p["sigma"] == Exponential(1 / sy)
    # the builders use them by default and keep them on the model
    assert jaxmh.models.hierarchical(data).priors == p
    assert jaxmh.models.unpooled(data).priors == default_priors.default_priors("unpooled", data)


def test_tutorial_priors_on_request():
    data, _ = jaxmh.datasets.tutorial()
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    assert model.priors == {"mu_alpha": Normal(0, 3), "mu_beta": Normal(0, 3), "sigma_alpha": Uniform(0, 10),
                            "sigma_beta": Uniform(0, 10), "sigma": Uniform(0, 10)}
    assert jaxmh.models.pooled(data, priors="tutorial").priors["alpha"] == Uniform(-100, 100)
    # a single prior replaced on top of a scheme, by dict or by argument
    a = jaxmh.models.hierarchical(data, priors={"sigma": HalfNormal(2.0)})
    b = jaxmh.models.hierarchical(data, prior_sigma=HalfNormal(2.0))
    assert a.priors == b.priors and a.priors["sigma"] == HalfNormal(2.0)
    assert a.priors["mu_alpha"] == default_priors.default_priors("hierarchical", data)["mu_alpha"]
    with pytest.raises(ValueError, match="no parameter"):
        jaxmh.models.hierarchical(data, priors={"tau": HalfNormal(1.0)})
    with pytest.raises(ValueError, match="priors must be one of"):
        jaxmh.models.hierarchical(data, priors="flat")


def test_tutorial_priors_keep_the_tutorial_runs_bit_for_bit():
    """With the tutorial's priors, starting values and tuning are what they were before issue 11."""
    data, _ = jaxmh.datasets.tutorial()
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    start = model.init(jax.random.key(2), 3)
    k = jax.random.split(jax.random.key(2), 7)
    np.testing.assert_array_equal(start["alpha"], jax.random.normal(k[0], (3, 75)))
    np.testing.assert_array_equal(start["sigma"], jax.random.uniform(k[6], (3,), minval=0.5, maxval=5.0))
    assert set(model.start_scale.values()) == {1.0}


def test_starting_values_lie_inside_every_prior():
    data = _reaction_times()
    with pytest.warns(prior_checks.PriorWarning):  # the data say otherwise, but the starts must be valid
        narrow = jaxmh.models.hierarchical(data, prior_sigma=Uniform(0.0, 0.3), prior_mu_alpha=Uniform(200, 210))
    for model in (jaxmh.models.hierarchical(data), narrow):
        start = model.init(jax.random.key(0), 64)
        assert np.all(np.isfinite(jax.vmap(model.logdensity)(start)))
        for name, prior in model.priors.items():
            assert np.all(np.isfinite(np.asarray(prior.logpdf(start[name])))), name
    # starts are on the data's scale, not the tutorial's
    start = jaxmh.models.hierarchical(data).init(jax.random.key(0), 64)
    assert abs(float(np.mean(start["mu_alpha"])) - data.y.mean()) < 3 * data.y.std()
    assert float(np.mean(start["sigma"])) > 5.0


def test_exponential_prior_matches_scipy(x64):
    x = np.array([0.0, 0.3, 2.0, 17.0])
    np.testing.assert_allclose(Exponential(0.25).logpdf(x), stats.expon.logpdf(x, scale=4.0), rtol=1e-12)
    assert Exponential(0.25).logpdf(-1e-9) == -np.inf
    assert jaxmh.priors.parse("exponential(0.25)") == Exponential(0.25)
    assert str(Exponential(0.25)) == "exponential(0.25)"
    with pytest.raises(ValueError, match="rate"):
        Exponential(0.0)


@pytest.mark.parametrize("prior", [Normal(3.0, 2.0), HalfNormal(2.0), Exponential(0.5), Uniform(-1.0, 4.0),
                                   jaxmh.priors.HalfCauchy(2.0)])
def test_prior_text_reads_back(prior):
    assert jaxmh.priors.parse(str(prior)) == prior


def test_prior_data_conflict_is_warned_before_sampling():
    data = _reaction_times()
    with pytest.warns(prior_checks.PriorWarning) as caught:
        jaxmh.models.hierarchical(data, priors="tutorial")
    text = str(caught[0].message)
    assert "mu_alpha" in text and "normal(0, 3)" in text and "sigma" in text and "uniform(0, 10)" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", prior_checks.PriorWarning)
        jaxmh.models.hierarchical(data)                              # the defaults fit the data
        jaxmh.models.hierarchical(jaxmh.datasets.tutorial()[0], priors="tutorial")


def test_reached_bounds_criterion():
    rng = np.random.default_rng(0)
    b = (prior_checks.PriorBound("s", "uniform(0, 10)", -math.inf, 10.0),)

    def reached(x):
        return prior_checks.reached_bounds({"s": np.asarray(x).reshape(4, -1)}, b)

    assert reached(rng.normal(5.0, 1.0, 40_000)) == {}                  # five sds inside
    inside = rng.normal(8.0, 1.0, 50_000)
    assert reached(inside[inside <= 10.0][:40_000]) == {}              # truncated two sds out: 0.6% at the edge
    near = rng.normal(9.0, 1.0, 80_000)
    assert "s" in reached(near[near <= 10.0][:40_000])                 # one sd out: the prior cuts off 16%
    piled = 10.0 - np.abs(rng.normal(0.0, 0.01, 40_000))                # crowding the bound
    assert "s" in reached(piled)
    flat = rng.uniform(-100, 10, 40_000)                                # the prior alone
    assert "s" in reached(flat)


def test_boundary_warning_names_the_parameter_and_does_not_say_run_longer():
    data = _reaction_times()
    with pytest.warns(prior_checks.PriorWarning):
        model = jaxmh.models.hierarchical(data, priors="tutorial")
    result = jaxmh.fit(jax.random.key(0), model, num_samples=2_000, num_warmup=1_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = jaxmh.summary(result)
    assert "sigma" in table.reached and "sigma_alpha" in table.reached
    messages = [str(w.message) for w in caught]
    bound = [m for m in messages if "bound of its prior" in m and "cuts off" in m]
    assert bound and "sigma reaches 10" in bound[0] and "uniform(0, 10)" in bound[0]
    assert not any("Run longer" in m for m in messages)
    assert any("running longer will not help" in m for m in messages)


def test_no_boundary_warning_where_the_posterior_stays_inside():
    data, _ = jaxmh.datasets.tutorial()
    result = jaxmh.fit(jax.random.key(0), jaxmh.models.hierarchical(data, priors="tutorial"),
                       num_samples=2_000, num_warmup=1_000)
    assert result.prior_bounds                             # uniform(0, 10) scales: upper bounds to check
    assert jaxmh.summary(result, warn=False).reached == {}  # sigma_alpha near 0 is its own bound


def test_moments_summary_prints_no_nan_columns():
    data, _ = jaxmh.datasets.tutorial()
    result = jaxmh.fit(jax.random.key(0), jaxmh.models.hierarchical(data, priors="tutorial"),
                       num_samples=500, num_warmup=500, store="moments")
    text = jaxmh.summary(result, warn=False).table()
    assert "nan" not in text
    assert "r_hat" in text and "ess_bulk" not in text and "store='moments'" in text
