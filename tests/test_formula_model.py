"""Formula models (issue 13): the tutorial's model as a special case, names, bit-stability, coverage,
the Gibbs kernel's contract, prior classes."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import chex

import jaxmh
from jaxmh.priors import LKJ, HalfNormal, Normal, Uniform

TUTORIAL_PRIORS = {"Intercept": Normal(0.0, 3.0), "b": Normal(0.0, 3.0), "sd": Uniform(0.0, 10.0),
                   "sigma": Uniform(0.0, 10.0)}


def _rows(result):
    return jaxmh.summary(result, warn=False).to_dict()


@pytest.fixture(scope="module")
def tutorial():
    data, truth = jaxmh.data.simulate(jax.random.key(3), num_groups=40, group_size=5)
    return data, truth


def test_tutorial_model_is_a_special_case(tutorial):
    """``y ~ x + (x || i)`` with the tutorial's priors has the posterior of models.hierarchical: every
    hyperparameter and every group's intercept and slope agree within 4 combined MCSE."""
    data, _ = tutorial
    ref = jaxmh.fit(jax.random.key(0), jaxmh.models.hierarchical(data, priors="tutorial"), num_samples=10_000)
    m = jaxmh.model("y ~ x + (x || i)", data, priors=TUTORIAL_PRIORS)
    assert jaxmh.methods.default(m) == "gibbs"
    res = jaxmh.fit(jax.random.key(1), m, num_samples=5_000)
    a, b = _rows(ref), _rows(res)
    pairs = {"mu_alpha": "Intercept", "mu_beta": "x", "sigma_alpha": "sd(Intercept|i)",
             "sigma_beta": "sd(x|i)", "sigma": "sigma"}
    for old, new in pairs.items():
        se = np.hypot(a[old]["mcse_mean"], b[new]["mcse_mean"])
        assert abs(a[old]["mean"] - b[new]["mean"]) < 4 * se, (old, a[old], b[new])
    # group effects: alpha[g] = Intercept + Intercept|i[g]
    derived = {"alpha": np.asarray(res.draws["Intercept"])[..., None] + np.asarray(res.draws["Intercept|i"]),
               "beta": np.asarray(res.draws["x"])[..., None] + np.asarray(res.draws["x|i"])}
    d = jaxmh.summary(derived, warn=False).to_dict()
    for name in ("alpha", "beta"):
        for g in range(data.num_groups):
            key = f"{name}[{g}]"
            se = np.hypot(a[key]["mcse_mean"], d[key]["mcse_mean"])
            assert abs(a[key]["mean"] - d[key]["mean"]) < 4 * se, (key, a[key], d[key])
    # the sampler is better, not just right: its worst bulk ESS per draw beats the blocked sampler's
    worst = lambda rows, n: min(r["ess_bulk"] for r in rows.values()) / n  # noqa: E731
    assert worst(b, 5_000) > worst(a, 10_000)


def test_names_rows_and_arviz_coordinates():
    cols = jaxmh.datasets.columns("sleepstudy")
    m = jaxmh.model("Reaction ~ Days + (Days | Subject)", cols)
    r = jaxmh.fit(jax.random.key(0), m, num_samples=200, num_warmup=200)
    names = jaxmh.summary(r, warn=False).names
    for name in ("Intercept", "Days", "sigma", "sd(Intercept|Subject)", "sd(Days|Subject)",
                 "cor(Intercept,Days|Subject)", "Days|Subject[308]", "Intercept|Subject[372]"):
        assert name in names
    assert names.index("sigma") < names.index("Days|Subject[308]")  # globals first, then group rows
    idata = r.to_arviz()
    assert list(idata.posterior["Days|Subject"].coords["Subject"].values[:2]) == ["308", "309"]


def test_chain_c_is_the_same_with_3_and_8_chains():
    """Chain c's random numbers do not depend on the chain count (the updates use jaxmh.stablemath and a
    batch-independent gamma sampler).  The draws agree to rounding, not always to the bit: XLA decides per
    compilation where ``a * b + c`` becomes a fused multiply-add, and the programs for 3 and 8 chains are
    different compilations (docs/design.md)."""
    cols = jaxmh.datasets.columns("penicillin")
    m = jaxmh.model("diameter ~ 1 + (1 | plate) + (1 | sample)", cols)
    few = jaxmh.fit(jax.random.key(5), m, num_chains=3, num_samples=10, num_warmup=20)
    many = jaxmh.fit(jax.random.key(5), m, num_chains=8, num_samples=10, num_warmup=20)
    for k in few.draws:
        a, b = np.asarray(few.draws[k], np.float64), np.asarray(many.draws[k], np.float64)
        spread = b.std(axis=(0, 1))  # another random stream would move the draws by about this much
        assert np.all(np.abs(a - b[:3]) < 0.02 * spread), (k, np.max(np.abs(a - b[:3]) / spread))


def _simulate_correlated(seed: int, num_groups: int, size: int):
    rng = np.random.default_rng(seed)
    sd, rho = np.array([1.0, 0.5]), 0.6
    cov = np.diag(sd) @ np.array([[1, rho], [rho, 1]]) @ np.diag(sd)
    u = rng.multivariate_normal(np.zeros(2), cov, size=num_groups)
    g = np.repeat(np.arange(num_groups), size)
    x = rng.normal(size=g.size)
    y = 2.0 + u[g, 0] + (-1.0 + u[g, 1]) * x + rng.normal(scale=1.0, size=g.size)
    labels = np.array([f"s{i:03d}" for i in range(num_groups)])
    return {"y": y, "x": x, "g": labels[g]}, u


def test_90_percent_intervals_cover_the_true_group_effects():
    """400 true group-level effects (200 groups, correlated intercepts and slopes): the share inside their
    90% posterior intervals is 0.9 within 3 binomial standard errors."""
    data, u = _simulate_correlated(11, 200, 6)
    m = jaxmh.model("y ~ x + (1 + x | g)", data)
    r = jaxmh.fit(jax.random.key(2), m, num_samples=2_000)
    inside = []
    for j, name in enumerate(("Intercept|g", "x|g")):
        draws = np.asarray(r.draws[name]).reshape(-1, 200)
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        inside.append((lo <= u[:, j]) & (u[:, j] <= hi))
    share = np.mean(np.concatenate(inside))
    assert abs(share - 0.9) < 3 * np.sqrt(0.9 * 0.1 / 400), share


def test_gibbs_kernel_rebuilt_from_step_size_continues_the_fit():
    data, _ = _simulate_correlated(1, 12, 5)
    m = jaxmh.model("y ~ x + (1 + x | g)", data)
    first = jaxmh.fit(jax.random.key(0), m, num_samples=50, num_warmup=100)
    assert set(first.step_size) == {"cor(Intercept,x|g)", "interweave"}  # sds and sigma have updates of their own
    kernel = jaxmh.kernels.gibbs(m.conditionals, first.step_size)
    a = jaxmh.sample(jax.random.split(jax.random.key(9), 3)[2], kernel, first.final_state, num_samples=40)
    b = jaxmh.fit(jax.random.key(9), m, init=first, num_samples=40)
    chex.assert_trees_all_equal(a.draws, b.draws)


def test_fixed_effects_only_model_matches_the_conjugate_posterior(x64):
    """No varying effects, flat-ish normal priors: the coefficients' posterior mean is OLS (within MCSE)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    f = np.array(["a", "b", "c"])[rng.integers(0, 3, 60)]
    y = 1.0 + 2.0 * x + np.where(f == "b", 1.5, 0.0) - np.where(f == "c", 1.0, 0.0) + rng.normal(size=60)
    big = Normal(0.0, 1e4)
    m = jaxmh.model("y ~ x + f", {"y": y, "x": x, "f": f}, priors={"Intercept": big, "b": big})
    r = jaxmh.fit(jax.random.key(0), m, num_samples=4_000)
    baseline = f[0]  # treatment coding: the first level in order of appearance is the baseline
    others = [level for level in dict.fromkeys(f) if level != baseline]
    X = np.column_stack([np.ones(60), x] + [f == level for level in others]).astype(float)
    names = ("Intercept", "x") + tuple(f"f[{level}]" for level in others)
    assert m.layout.fixed == names
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    rows = _rows(r)
    for name, value in zip(names, ols):
        assert abs(rows[name]["mean"] - value) < 4 * rows[name]["mcse_mean"], (name, rows[name], value)


@pytest.mark.parametrize("priors, message", [
    ({"cor": LKJ(2.0)}, "no correlated varying effects"),
    ({"sd": HalfNormal(1.0)}, "no varying effects"),
    ({"bogus": Normal(0, 1)}, "no parameter or class 'bogus'"),
    ({"sigma": LKJ(2.0)}, "not a correlation prior"),
    ({"sigma": Normal(0, 1)}, "sigma"),
])
def test_prior_for_a_class_the_model_does_not_have(priors, message):
    with pytest.raises(ValueError, match=message):
        jaxmh.model("y ~ x", {"y": [1.0, 2.0, 3.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0]}, priors=priors)


def test_prior_by_class_and_by_name():
    cols = jaxmh.datasets.columns("sleepstudy")
    m = jaxmh.model("Reaction ~ Days + (Days | Subject)", cols,
                    priors={"b": Normal(0, 50), "sd": HalfNormal(50), "sd(Days|Subject)": HalfNormal(10),
                            "cor": LKJ(2.0)})
    chosen = m.data["priors"]
    assert chosen["Days"] == Normal(0, 50)
    assert chosen["sd(Intercept|Subject)"] == HalfNormal(50)
    assert chosen["sd(Days|Subject)"] == HalfNormal(10)
    assert chosen["cor(Subject)"] == LKJ(2.0)


def test_compare_study_and_plots_take_a_formula_builder():
    """A formula model is a model like the bundled ones: compare scores what the truth names (sigma), study
    batches it over simulated datasets, the plots read its parameter names."""
    builder = lambda d: jaxmh.model("y ~ x + (x || i)", d)  # noqa: E731
    data, truth = jaxmh.data.simulate(jax.random.key(0), num_groups=12, group_size=5)
    c = jaxmh.compare(jax.random.key(1), data, truth, models=(jaxmh.models.hierarchical, builder),
                      num_samples=200, num_warmup=200)
    formula_fit = c.fits[1]
    assert formula_fit.model == "y ~ 1 + x + (1 + x || i)"
    assert set(formula_fit.rmse) == {"sigma"} and np.isfinite(formula_fit.rmse["sigma"])
    table = c.table()
    assert "the model has no parameter of that name" in table
    s = jaxmh.study(jax.random.key(2), 2, models=(builder,), num_samples=100, num_warmup=100, num_groups=12,
                    group_size=5)
    assert np.all(np.isfinite(s["y ~ 1 + x + (1 + x || i)"].rmse["sigma"]))
    r = jaxmh.fit(jax.random.key(3), builder(data), num_samples=100, num_warmup=100)
    fig = jaxmh.plots.trace(r, ["sd(Intercept|i)", "Intercept"])
    assert len(fig.axes) >= 2
