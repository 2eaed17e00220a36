"""The model and kernel contracts: a model and a kernel defined here, outside ``jaxmh/``, run
through every driver (issue 12).

* ``student_t``: a hierarchical regression with a Student-t likelihood and its own group split,
  written as a user would (docs/design.md, "Add a model"); it goes through ``fit`` (blocked and
  adaptive), ``summary``, ``compare`` with a truth and ``study``.  With ``nu`` huge it is the
  bundled hierarchical model, so both posteriors must agree within Monte Carlo error.
* ``laplace``: a random walk whose increments are Laplace, not Gaussian ("Add a kernel"); it goes
  through ``sample`` and through ``fit``'s warm-up tuning, and its posterior of a Gaussian target
  must have the target's mean and variance within Monte Carlo error.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmh
from jaxmh.adaptation import ScaleAdaptation
from jaxmh.kernels import Kernel, SamplingAlgorithm
from jaxmh.models import GroupSplit, Model
from jaxmh.priors import HalfNormal, Normal


# ---------------------------------------------------------------------------------------------
# A model of one's own: hierarchical regression, Student-t errors
# ---------------------------------------------------------------------------------------------
def student_t(data, *, nu=5.0, priors=None):
    """``y ~ t_nu(alpha[g] + beta[g] x, sigma)``, ``alpha[g] ~ N(mu_alpha, sigma_alpha)``, alike beta."""
    priors = priors or {"mu_alpha": Normal(0.0, 5.0), "mu_beta": Normal(0.0, 5.0),
                        "sigma_alpha": HalfNormal(2.5), "sigma_beta": HalfNormal(2.5), "sigma": HalfNormal(2.5)}
    arrays = {"x": jnp.asarray(data.x), "y": jnp.asarray(data.y), "group": jnp.asarray(data.group),
              "nu": jnp.asarray(nu, jnp.result_type(float)), "priors": priors}
    num_groups = data.num_groups

    def functions(d):
        p = d["priors"]

        def global_logdensity(q):
            return sum(p[k].logpdf(q[k]) for k in p)

        def group_logdensity(q):
            nu, sigma = d["nu"], q["sigma"]
            z = (d["y"] - q["alpha"][d["group"]] - q["beta"][d["group"]] * d["x"]) / sigma
            log_t = (jax.scipy.special.gammaln((nu + 1) / 2) - jax.scipy.special.gammaln(nu / 2)
                     - 0.5 * jnp.log(nu * math.pi) - jnp.log(sigma) - (nu + 1) / 2 * jnp.log1p(z * z / nu))
            lik = jax.ops.segment_sum(log_t, d["group"], num_segments=num_groups)
            value = (jaxmh.logpdf.normal(q["alpha"], q["mu_alpha"], q["sigma_alpha"])
                     + jaxmh.logpdf.normal(q["beta"], q["mu_beta"], q["sigma_beta"]) + lik)
            return jnp.where(sigma > 0, value, -jnp.inf)

        def logdensity(q):
            return global_logdensity(q) + jnp.sum(group_logdensity(q))

        def init(key, num_chains):
            k = jax.random.split(key, 7)
            return {"alpha": jax.random.normal(k[0], (num_chains, num_groups)),
                    "beta": jax.random.normal(k[1], (num_chains, num_groups)),
                    "mu_alpha": jax.random.normal(k[2], (num_chains,)),
                    "mu_beta": jax.random.normal(k[3], (num_chains,)),
                    "sigma_alpha": jax.random.uniform(k[4], (num_chains,), minval=0.5, maxval=2.0),
                    "sigma_beta": jax.random.uniform(k[5], (num_chains,), minval=0.5, maxval=2.0),
                    "sigma": jax.random.uniform(k[6], (num_chains,), minval=0.5, maxval=2.0)}

        split = GroupSplit(("alpha", "beta"), group_logdensity, global_logdensity)
        return logdensity, init, split

    def with_data(d):
        logdensity, init, split = functions(d)
        return Model("student_t", logdensity, init, ("alpha", "beta"), num_groups, split, priors,
                     ("sigma_alpha", "sigma_beta", "sigma"), data=d, with_data=with_data)

    return with_data(arrays)


@pytest.fixture(scope="module")
def tutorial_data():
    return jaxmh.data.simulate(jax.random.key(0))


def test_a_model_defined_outside_the_package_runs_through_fit_summary_compare_and_study(tutorial_data):
    data, truth = tutorial_data
    model = student_t(data)
    for method in ("blocked", "adaptive"):
        result = jaxmh.fit(jax.random.key(1), model, method=method, num_samples=200, num_warmup=200)
        assert result.method == method
        chex.assert_tree_shape_prefix(result.draws, (4, 200))
        assert result.draws["alpha"].shape == (4, 200, 75)
        table = jaxmh.summary(result, warn=False)
        assert "alpha[74]" in table.names and "sigma" in table.names
    c = jaxmh.compare(jax.random.key(2), data, truth, models=(jaxmh.models.pooled, student_t),
                      num_samples=500, num_warmup=500)
    assert [f.model for f in c.fits] == ["pooled", "student_t"]
    t_fit = c.fits[1]
    means = {k: np.asarray(v, np.float64).mean(axis=(0, 1)) for k, v in t_fit.result.draws.items()}
    for name in ("alpha", "beta", "sigma"):  # every parameter the truth holds is scored, exactly
        assert t_fit.rmse[name] == pytest.approx(jaxmh.comparison.rmse(means[name], truth[name]), rel=1e-12)
    assert "RMSE sigma" in c.table()
    s = jaxmh.study(jax.random.key(3), 4, models=(student_t,), num_samples=200, num_warmup=200, batch_size=4)
    assert s["student_t"].method == "blocked"
    assert set(s["student_t"].rmse) == {"alpha", "beta", "sigma"}
    assert np.all(np.isfinite(s["student_t"].rmse_alpha))


def test_the_student_t_model_with_huge_nu_has_the_normal_models_posterior(tutorial_data):
    """t_nu -> normal as nu -> inf: with nu = 1e7 (and the same priors) the posteriors must agree
    within Monte Carlo error (|difference| < 4 combined MCSE) -- the model is correct, and so is its split."""
    data, _ = tutorial_data
    normal = jaxmh.models.hierarchical(data)
    t_model = student_t(data, nu=1e7, priors=dict(normal.priors))
    jax.config.update("jax_enable_x64", True)
    try:
        fits = [jaxmh.fit(jax.random.key(k), m, num_samples=3000, num_warmup=1500)
                for k, m in ((4, normal), (5, t_model))]
    finally:
        jax.config.update("jax_enable_x64", False)
    tables = [jaxmh.summary(r, warn=False) for r in fits]
    rows = ["mu_alpha", "mu_beta", "sigma_alpha", "sigma_beta", "sigma", "alpha[0]", "beta[0]", "alpha[40]"]
    for row in rows:
        (m1, m2), (e1, e2) = ([t.columns[c][t.names.index(row)] for t in tables] for c in ("mean", "mcse_mean"))
        assert abs(m1 - m2) < 4 * math.hypot(e1, e2), (row, m1, m2, e1, e2)


def test_a_user_model_is_rebound_to_other_data(tutorial_data):
    """``with_data`` gives the model of other data: its log-density equals the model built on them."""
    data, _ = tutorial_data
    other, _ = jaxmh.data.simulate(jax.random.key(9))
    model = student_t(data)
    rebound = model.with_data(student_t(other).data)
    position = jax.tree.map(lambda v: v[0], model.init(jax.random.key(0), 1))
    assert float(rebound.logdensity(position)) == float(student_t(other).logdensity(position))
    assert float(rebound.logdensity(position)) != float(model.logdensity(position))


# ---------------------------------------------------------------------------------------------
# A kernel of one's own: random walk with Laplace increments
# ---------------------------------------------------------------------------------------------
class LaplaceState(NamedTuple):
    position: dict
    logdensity: jax.Array


class LaplaceInfo(NamedTuple):
    acceptance_prob: jax.Array
    is_accepted: jax.Array


def laplace_init(position, logdensity_fn):
    return LaplaceState(position, jnp.asarray(logdensity_fn(position)))


def laplace_step(key, state, logdensity_fn, step_size):
    """``x' = x + s * e / sqrt(2)``, ``e`` standard Laplace (variance 2): a symmetric proposal."""
    k_move, k_accept = jax.random.split(key)
    keys = dict(zip(sorted(state.position), jax.random.split(k_move, len(state.position))))
    proposal = {k: v + step_size[k] * jax.random.laplace(keys[k], jnp.shape(v), v.dtype) / math.sqrt(2.0)
                for k, v in state.position.items()}
    new = jnp.asarray(logdensity_fn(proposal), state.logdensity.dtype)
    delta = jnp.where(jnp.isfinite(new), new - state.logdensity, -jnp.inf)
    accept = jnp.log(jax.random.uniform(k_accept, dtype=state.logdensity.dtype)) < delta
    moved = jax.tree.map(lambda a, b: jnp.where(accept, a, b), LaplaceState(proposal, new), state)
    return moved, LaplaceInfo(jnp.exp(jnp.minimum(delta, 0.0)), accept)


def _per_chain(step_size, position, num_chains):
    return {k: jnp.broadcast_to(jnp.asarray(step_size[k], jnp.result_type(float)), (num_chains,) + jnp.shape(v))
            for k, v in position.items()}


def _check(logdensity_fn, step_size, position, num_chains=None):
    if not isinstance(step_size, dict) or set(step_size) != set(position):
        raise ValueError("step_size must be a dict with the position's keys")


def _scaled(multiplier, sd):
    return {k: multiplier * v for k, v in sd.items()}


def _acceptance(info):
    return info.acceptance_prob


def _adaptation(logdensity_fn, position, num_steps):
    dim = sum(int(np.prod(np.shape(v))) for v in position.values())
    return ScaleAdaptation(dim, _scaled, _acceptance, num_steps)


def laplace(logdensity_fn, step_size):
    return SamplingAlgorithm(lambda p: laplace_init(p, logdensity_fn),
                             lambda k, s: laplace_step(k, s, logdensity_fn, step_size),
                             LAPLACE, logdensity_fn, step_size)


LAPLACE = Kernel("laplace", laplace_init, laplace_step, lambda model: model.logdensity, _check, _per_chain,
                 _adaptation, None, laplace)

MEAN, SD = np.array([1.0, -2.0, 0.5]), np.array([0.5, 2.0, 1.0])


def _gaussian(p):
    return -0.5 * jnp.sum(((p["x"] - MEAN) / SD) ** 2)


def _gaussian_model():
    def init(key, num_chains):
        return {"x": jax.random.normal(key, (num_chains, 3))}

    return Model("gaussian", _gaussian, init, (), 0)


def _assert_moments(draws):
    """Mean and variance of each coordinate within 4 Monte Carlo standard errors of the target's."""
    x = np.asarray(draws["x"], np.float64)
    mcse = jaxmh.diagnostics.mcse_mean(x)
    assert np.all(np.abs(x.mean(axis=(0, 1)) - MEAN) < 4 * mcse)
    square = (x - MEAN) ** 2
    assert np.all(np.abs(square.mean(axis=(0, 1)) - SD ** 2) < 4 * jaxmh.diagnostics.mcse_mean(square))


def test_a_kernel_defined_outside_the_package_runs_through_sample():
    kernel = laplace(_gaussian, {"x": jnp.array([0.6, 2.4, 1.2])})
    result = jaxmh.sample(jax.random.key(0), kernel, {"x": jnp.zeros((8, 3))}, num_samples=20000,
                          num_warmup=500)
    assert result.draws["x"].shape == (8, 20000, 3)
    chex.assert_trees_all_equal(result.step_size, _per_chain(kernel.params, {"x": jnp.zeros(3)}, 8))
    _assert_moments(result.draws)


def test_fit_tunes_a_kernel_defined_outside_the_package_and_the_result_rebuilds_it():
    method = jaxmh.methods.Method("laplace", LAPLACE, True, "random walk, Laplace increments")
    model = _gaussian_model()
    result = jaxmh.fit(jax.random.key(1), model, method=method, num_samples=20000, num_warmup=2000)
    assert result.method == "laplace"
    sd = np.asarray(result.step_size["x"])          # tuned per chain and coordinate: (chains, 3)
    assert sd.shape == (4, 3)
    # the tuned scales follow the target's sds (ratios within a factor 2 of 1:4:2)
    ratio = sd / sd[:, :1]
    assert np.all(np.abs(np.log(ratio / (SD / SD[0]))) < np.log(2.0))
    _assert_moments(result.draws)
    # the tuned parameters are exactly the kernel's own: rebuilt, it continues the chains
    # bit for bit as fit(init=result) does (fit's sampling key is the third of split(key, 3))
    more = jaxmh.fit(jax.random.key(2), model, method=method, init=result, num_samples=300)
    again = jaxmh.sample(jax.random.split(jax.random.key(2), 3)[2], laplace(_gaussian, result.step_size),
                         result.final_state, num_samples=300)
    chex.assert_trees_all_equal(more.draws, again.draws)


# ---------------------------------------------------------------------------------------------
# The bundled kernels: a fit's step_size rebuilds its kernel, for every method
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, rebuild", [
    ("blocked", lambda model, size: jaxmh.kernels.blocked(model.split, size)),
    ("adaptive", lambda model, size: jaxmh.rwm(model.logdensity, size)),
    ("rwm", lambda model, size: jaxmh.rwm(model.logdensity, size)),
])
def test_a_fits_step_size_rebuilds_its_kernel_and_continues_the_chains(tutorial_data, method, rebuild):
    data, _ = tutorial_data
    model = jaxmh.models.hierarchical(data)
    result = jaxmh.fit(jax.random.key(3), model, method=method, num_samples=300, num_warmup=300)
    kernel = rebuild(model, result.step_size)
    again = jaxmh.sample(jax.random.split(jax.random.key(4), 3)[2], kernel, result.final_state, num_samples=200)
    more = jaxmh.fit(jax.random.key(4), model, method=method, init=result, num_samples=200)
    chex.assert_trees_all_equal(again.draws, more.draws)
    chex.assert_trees_all_equal(again.step_size, result.step_size)  # the very parameters it was tuned to
    # and the continued chains start where the fit ended: the first draw is one step from the final state
    first = jax.tree.map(lambda v: np.asarray(v[:, 0]), again.draws)
    last = jax.tree.map(np.asarray, result.final_state.position)
    moved = np.max(np.abs(first["mu_alpha"] - last["mu_alpha"]) / np.asarray(result.draws["mu_alpha"]).std())
    assert moved < 3.0


def test_fit_continues_an_earlier_result_without_warmup_by_default(tutorial_data):
    data, _ = tutorial_data
    model = jaxmh.models.intercepts(data)
    result = jaxmh.fit(jax.random.key(5), model, num_samples=100, num_warmup=200)
    more = jaxmh.fit(jax.random.key(6), model, init=result, num_samples=100)
    chex.assert_trees_all_equal(more.step_size, result.step_size)
    with pytest.raises(ValueError, match="no step_size"):
        jaxmh.fit(jax.random.key(6), model, init=result._replace(step_size=None))


def test_the_cli_offers_the_registered_models_and_methods():
    from jaxmh import cli

    parser = cli._parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for command in ("compare", "study"):
        models = next(a for a in sub[command]._actions if a.dest == "models")
        assert list(models.choices) == list(jaxmh.models.registry.MODELS)
    for command in ("compare", "study", "fit"):
        method = next(a for a in sub[command]._actions if a.dest == "method")
        assert list(method.choices) == list(jaxmh.methods.METHODS)
    assert list(next(a for a in sub["fit"]._actions if a.dest == "model").choices) == list(jaxmh.models.registry.MODELS)


def test_old_spellings_still_work_with_a_deprecation_warning(tutorial_data):
    data, truth = tutorial_data
    kernel = jaxmh.rwm(_gaussian, 1.0)
    with pytest.warns(DeprecationWarning, match="num_samples by keyword"):
        old = jaxmh.sample(jax.random.key(0), kernel, {"x": jnp.zeros((2, 3))}, 50)
    new = jaxmh.sample(jax.random.key(0), kernel, {"x": jnp.zeros((2, 3))}, num_samples=50)
    chex.assert_trees_all_equal(old.draws, new.draws)
    with pytest.warns(DeprecationWarning, match="builders"):
        c = jaxmh.compare(jax.random.key(1), data, truth, models=("pooled",), num_samples=100, num_warmup=100)
    assert c.fits[0].model == "pooled"
    with pytest.raises(ValueError, match="unknown model 'nope'"), pytest.warns(DeprecationWarning):
        jaxmh.compare(jax.random.key(1), data, truth, models=("nope",))


def test_compare_and_study_take_the_bundled_builders(tutorial_data):
    """The calls issue 12 names: any builders, every truth parameter scored, a model's study results
    independent of the other models beside it."""
    data, truth = tutorial_data
    m = jaxmh.models
    c = jaxmh.compare(jax.random.key(7), data, truth, models=(m.pooled, m.intercepts, m.hierarchical),
                      num_samples=300, num_warmup=300)
    assert [f.model for f in c.fits] == ["pooled", "intercepts", "hierarchical"]
    intercepts = c.fits[1]
    beta = float(np.asarray(intercepts.result.draws["beta"], np.float64).mean())   # one slope for all groups
    assert intercepts.rmse["beta"] == pytest.approx(jaxmh.comparison.rmse(np.full(75, beta), truth["beta"]),
                                                    rel=1e-12)
    both = jaxmh.study(jax.random.key(8), 8, models=(m.intercepts, m.hierarchical), num_samples=200,
                       num_warmup=200, batch_size=8)
    alone = jaxmh.study(jax.random.key(8), 8, models=(m.intercepts,), num_samples=200, num_warmup=200,
                        batch_size=8)
    assert [f.method for f in both.fits] == ["blocked", "blocked"]
    assert both["hierarchical"].rmse_alpha.shape == (8,)
    for name in ("alpha", "beta", "sigma"):
        np.testing.assert_array_equal(both["intercepts"].rmse[name], alone["intercepts"].rmse[name])


def test_bundled_with_data_compares_equal_across_builds_so_study_reuses_its_compiled_program():
    """Two builds of one model on different data rebind the same way (equal, same hash); other models differ."""
    d1, _ = jaxmh.data.simulate(jax.random.key(1))
    d2, _ = jaxmh.data.simulate(jax.random.key(2))
    a, b = jaxmh.models.hierarchical(d1), jaxmh.models.hierarchical(d2)
    assert a.with_data == b.with_data and hash(a.with_data) == hash(b.with_data)
    assert a.with_data != jaxmh.models.intercepts(d1).with_data
    assert a.with_data != jaxmh.models.hierarchical(jaxmh.data.simulate(jax.random.key(1), num_groups=10)[0]).with_data
    rebound = a.with_data(b.data)
    assert rebound.with_data == a.with_data
    q = jax.tree.map(lambda v: v[0], b.init(jax.random.key(3), 1))
    assert float(rebound.logdensity(q)) == float(b.logdensity(q))


def test_truth_of_another_shape_is_named_in_compare():
    data, truth = jaxmh.data.simulate(jax.random.key(0), num_groups=6, group_size=4)
    bad = dict(truth, alpha=np.asarray(truth["alpha"])[:5])
    with pytest.raises(ValueError, match=r"truth's alpha has shape \(5,\), but the hierarchical model's alpha "
                                         r"has shape \(6,\)"):
        jaxmh.compare(jax.random.key(1), data, bad, models=(jaxmh.models.hierarchical,), num_samples=20,
                      num_warmup=20)
