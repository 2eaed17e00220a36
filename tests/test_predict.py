"""jaxmh.predict (issue 15): observed levels, new levels (sampled independently per level), families."""

import jax
import numpy as np
import pytest

import jaxmh


def _data(seed=0, groups=10, per=8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    y = 1.0 + rng.normal(size=groups)[g] + 0.5 * x + rng.normal(scale=0.5, size=g.size)
    return {"y": y, "x": x, "g": np.array([f"s{v}" for v in g])}


@pytest.fixture(scope="module")
def gaussian():
    data = _data()
    result = jaxmh.fit(jax.random.key(0), jaxmh.model("y ~ x + (1 + x | g)", data), num_samples=400,
                       progress=False)
    return data, result


def _linear_by_hand(draws, x, g):
    draws = {k: np.asarray(v) for k, v in draws.items()}
    return (draws["Intercept"][..., None] + draws["x"][..., None] * x + draws["Intercept|g"][..., g]
            + draws["x|g"][..., g] * x)


def test_observed_levels_are_the_posterior_mean_of_the_linear_predictor(gaussian):
    data, result = gaussian
    g = np.repeat(np.arange(10), 8)
    by_hand = _linear_by_hand(result.draws, data["x"], g)
    np.testing.assert_allclose(jaxmh.predict(result), by_hand.mean(axis=(0, 1)), atol=1e-4)
    np.testing.assert_allclose(jaxmh.predict(result, kind="draws"), by_hand, atol=1e-4)
    # the same rows given as new data (in another order, levels as text) give the same predictions
    rows = [5, 0, 79, 40]
    new = {"x": data["x"][rows], "g": data["g"][rows]}
    np.testing.assert_allclose(jaxmh.predict(result, new), by_hand.mean(axis=(0, 1))[rows], atol=1e-4)


def test_new_levels_spread_as_the_group_sd_and_independently(gaussian):
    """At x = 0 a new level's prediction minus the fixed intercept is its sampled intercept effect
    sd(Intercept|g) z: across M new levels its variance over sd^2 is chi2(M-1)/(M-1) at every draw
    (exactly, whatever the posterior), and two new levels are independent across draws."""
    _, result = gaussian
    M = 60
    new = {"x": np.zeros(M), "g": [f"new {j}" for j in range(M)]}
    pred = jaxmh.predict(result, new, kind="draws", key=jax.random.key(9))          # (4, 400, M)
    u = (pred - np.asarray(result.draws["Intercept"])[..., None]).reshape(-1, M)
    sd = np.asarray(result.draws["sd(Intercept|g)"]).reshape(-1)
    ratio = u.var(axis=1, ddof=1) / sd ** 2
    S = len(ratio)
    assert abs(ratio.mean() - 1.0) < 4 * np.sqrt(2.0 / ((M - 1) * S))
    z = u / sd[:, None]
    corr = np.corrcoef(z[:, 0], z[:, 1])[0, 1]                    # shared draws would give 1
    assert abs(corr) < 4 / np.sqrt(S)
    offdiag = np.corrcoef(z.T)[np.triu_indices(M, 1)]
    assert abs(offdiag.mean()) < 4 / np.sqrt(S * len(offdiag))   # the average pair is uncorrelated too
    # z is standard normal at every level
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)


def test_new_groups_population_and_error(gaussian):
    _, result = gaussian
    new = {"x": [0.5, 0.5], "g": ["s3", "someone new"]}
    pop = jaxmh.predict(result, new, new_groups="population", kind="draws")
    d = {k: np.asarray(v) for k, v in result.draws.items()}
    np.testing.assert_allclose(pop[..., 1], d["Intercept"] + 0.5 * d["x"], atol=1e-5)
    np.testing.assert_allclose(pop[..., 0], _linear_by_hand(d, np.array([0.5]), np.array([3]))[..., 0], atol=1e-5)
    with pytest.raises(ValueError, match=r"level\(s\) of 'g' the model was not fitted to: 'someone new'"):
        jaxmh.predict(result, new, new_groups="error")


def test_predictive_draws_scatter_by_sigma(gaussian):
    _, result = gaussian
    mean = jaxmh.predict(result, kind="draws")
    rep = jaxmh.predict(result, kind="predictive", key=jax.random.key(3))
    resid = (rep - mean) / np.asarray(result.draws["sigma"])[..., None]
    assert abs(resid.mean()) < 4 / np.sqrt(resid.size) and abs(resid.var() - 1) < 4 * np.sqrt(2 / resid.size)


def test_binomial_and_poisson_predict_on_the_response_scale():
    cbpp = jaxmh.datasets.columns("cbpp")
    result = jaxmh.fit(jax.random.key(1), jaxmh.model("incidence ~ C(period) + (1 | herd)", cbpp,
                                                      family="binomial", trials="size"),
                       num_samples=300, progress=False)
    d = {k: np.asarray(v) for k, v in result.draws.items()}
    eta = d["Intercept"] + d["period[2]"] + d["Intercept|herd"][..., 0]          # herd 1, period 2
    p = 1 / (1 + np.exp(-np.asarray(eta)))
    got = jaxmh.predict(result, {"period": [2, 2], "herd": ["1", "1"], "size": [1, 20]}, kind="draws")
    np.testing.assert_allclose(got[..., 0], p, rtol=1e-4)
    np.testing.assert_allclose(got[..., 1], 20 * p, rtol=1e-4)
    np.testing.assert_allclose(jaxmh.predict(result, {"period": [2], "herd": ["1"], "size": [1]}, scale="link",
                                             kind="draws")[..., 0], eta, atol=1e-5)
    rep = jaxmh.predict(result, kind="predictive")
    assert np.all(rep >= 0) and np.all(rep <= np.asarray(cbpp["size"])) and np.all(rep == np.round(rep))

    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(8), 6)
    expo = rng.uniform(1, 5, size=g.size)
    cols = {"y": rng.poisson(expo * np.exp(0.3 * rng.normal(size=8))[g]), "g": g, "logt": np.log(expo)}
    pois = jaxmh.fit(jax.random.key(2), jaxmh.model("y ~ 1 + (1 | g)", cols, family="poisson", offset="logt"),
                     num_samples=300, progress=False)
    d = {k: np.asarray(v) for k, v in pois.draws.items()}
    got = jaxmh.predict(pois, {"g": [0], "logt": [np.log(3.0)]}, kind="draws")[..., 0]
    np.testing.assert_allclose(got, 3.0 * np.exp(d["Intercept"] + d["Intercept|g"][..., 0]), rtol=1e-4)


def test_predict_bad_input(gaussian):
    data, result = gaussian
    with pytest.raises(ValueError, match="kind must be one of"):
        jaxmh.predict(result, kind="median")
    with pytest.raises(ValueError, match="new_groups must be one of"):
        jaxmh.predict(result, new_groups="ignore")
    with pytest.raises(ValueError, match="no column 'x'"):
        jaxmh.predict(result, {"g": ["s1"]})
    k = jaxmh.rwm(lambda p: -0.5 * (p["x"] ** 2).sum(), 1.0)
    plain = jaxmh.sample(jax.random.key(0), k, {"x": np.zeros((2, 1))}, num_samples=10)
    with pytest.raises(ValueError, match="formula model"):
        jaxmh.predict(plain)
    cat = jaxmh.fit(jax.random.key(1), jaxmh.model("y ~ C(k) + (1 | g)", {**data, "k": np.arange(80) % 3}),
                    num_samples=50, num_warmup=50, progress=False)
    with pytest.raises(ValueError, match=r"categorical predictor.*k\[7\]"):
        jaxmh.predict(cat, {"k": [7], "g": ["s1"]})
