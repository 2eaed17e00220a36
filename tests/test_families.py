"""Bernoulli, binomial and Poisson formula models (issue 14): bad inputs through the API and the command
line, exact posteriors of one-parameter models by quadrature, coverage of true group effects, the
response scale."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest

import jaxmh
from jaxmh import cli, diagnostics, response_scale
from jaxmh.priors import Normal
from conftest import write_csv

QUICK = ["--samples", "50", "--warmup", "50", "--chains", "2", "--no-plots"]


def fails(capsys, argv, pattern):
    """The command exits 2 with one line ``jaxmh fit: error: ...`` matching ``pattern``."""
    code = cli.main(["fit", *argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("jaxmh fit: error: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err


def table(**columns):
    """Six rows in two groups, with the columns given (defaults: g, x, n)."""
    base = {"g": ["a", "a", "a", "b", "b", "b"], "x": [0.1, -0.4, 0.3, 1.2, -0.8, 0.5], "n": [5, 5, 5, 6, 6, 6]}
    base.update(columns)
    return base


def both(tmp_path, capsys, data, formula, args, kwargs, pattern):
    """The same bad input is a ValueError from jaxmh.model and one error line from jaxmh fit."""
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model(formula, data, **kwargs)
    path = write_csv(tmp_path / "bad.csv", list(data), list(zip(*data.values())))
    fails(capsys, [path, formula, *args, *QUICK], pattern)


# --------------------------------------------------------------------------------------
# bad input (item 4): the column and the first offending row, from the API and the command
# --------------------------------------------------------------------------------------


def test_bernoulli_with_a_third_value(tmp_path, capsys):
    data = table(y=[0, 1, 1, 2, 0, 1])
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "bernoulli"], {"family": "bernoulli"},
         r"family 'bernoulli': the response 'y' must be 0 or 1; row 4 has 2 \(values: 0, 1, 2\)")


def test_bernoulli_with_three_text_values(tmp_path, capsys):
    data = table(y=["yes", "no", "maybe", "yes", "no", "no"])
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "bernoulli"], {"family": "bernoulli"},
         r"response 'y' must have two values, it has 3 \('maybe', 'no', 'yes'\)")


def test_poisson_with_a_negative_or_fractional_count(tmp_path, capsys):
    both(tmp_path, capsys, table(y=[0, 3, -1, 2, 0, 1]), "y ~ x + (1 | g)", ["--family", "poisson"],
         {"family": "poisson"}, r"family 'poisson': the response 'y' must be counts \(0, 1, 2, ...\); row 3 has -1")
    both(tmp_path, capsys, table(y=[0, 3, 1, 2.5, 0, 1]), "y ~ x + (1 | g)", ["--family", "poisson"],
         {"family": "poisson"}, r"must be counts \(0, 1, 2, ...\); row 4 has 2.5")


def test_binomial_successes_above_trials(tmp_path, capsys):
    data = table(y=[1, 2, 6, 0, 7, 1])
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "binomial", "--trials", "n"],
         {"family": "binomial", "trials": "n"},
         r"more successes than 'n': row 3 has 6 out of 5 \(and 1 more row\)")


def test_binomial_trials_of_zero_or_missing(tmp_path, capsys):
    data = table(y=[1, 2, 0, 0, 3, 1], n=[5, 5, 0, 6, 6, 6])
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "binomial", "--trials", "n"],
         {"family": "binomial", "trials": "n"},
         r"column 'n' \(the trials\) must be whole numbers of at least 1; row 3 has 0")
    data = table(y=[1, 2, 0, 0, 3, 1], n=[5, 5, 5, None, 6, 6])
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "binomial", "--trials", "n"],
         {"family": "binomial", "trials": "n"}, r"column 'n' has 1 missing value \(row 4\)")
    both(tmp_path, capsys, table(y=[1, 2, 0, 0, 3, 1]), "y ~ x + (1 | g)", ["--family", "binomial"],
         {"family": "binomial"}, r"family 'binomial' needs trials=")


def test_binomial_fractional_successes(tmp_path, capsys):
    both(tmp_path, capsys, table(y=[1, 2.5, 0, 0, 3, 1]), "y ~ x + (1 | g)",
         ["--family", "binomial", "--trials", "n"], {"family": "binomial", "trials": "n"},
         r"must be whole numbers of successes \(or proportions in \[0, 1\]\); row 2 has 2.5")
    both(tmp_path, capsys, table(y=[0.2, 0.5, 0, 0, 0.5, 1]), "y ~ x + (1 | g)",
         ["--family", "binomial", "--trials", "n"], {"family": "binomial", "trials": "n"},
         r"reads as proportions, but row 2's 0.5 times its trials 5 is not a whole number")


def test_offset_that_is_not_finite(tmp_path, capsys):
    data = table(y=[0, 3, 1, 2, 0, 1], e=[0.0, 0.1, float("-inf"), 0.2, 0.0, 0.3])
    pattern = r"column 'e' has 1 infinite value \(row 3"
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "poisson", "--offset", "e"],
         {"family": "poisson", "offset": "e"}, pattern)
    data = table(y=[0, 3, 1, 2, 0, 1], e=[0.0, 0.1, None, 0.2, 0.0, 0.3])
    both(tmp_path, capsys, data, "y ~ x + (1 | g)", ["--family", "poisson", "--offset", "e"],
         {"family": "poisson", "offset": "e"}, r"column 'e' has 1 missing value \(row 3\)")


def test_arguments_a_family_does_not_take(tmp_path, capsys):
    counts = table(y=[0, 3, 1, 2, 0, 1])
    both(tmp_path, capsys, counts, "y ~ x + (1 | g)", ["--family", "poisson", "--trials", "n"],
         {"family": "poisson", "trials": "n"}, r"trials: only the binomial family has trials")
    both(tmp_path, capsys, table(y=[0, 1, 1, 0, 0, 1]), "y ~ x + (1 | g)", ["--family", "bernoulli", "--offset", "x"],
         {"family": "bernoulli", "offset": "x"}, r"offset: only the poisson family takes an offset")
    both(tmp_path, capsys, counts, "y ~ x + (1 | g)", ["--family", "poisson", "--prior", "sigma=half-normal(1)"],
         {"family": "poisson", "priors": {"sigma": jaxmh.priors.HalfNormal(1.0)}},
         r"family 'poisson' has no sigma")
    with pytest.raises(ValueError, match="family must be one of 'gaussian', 'bernoulli', 'binomial', 'poisson'"):
        jaxmh.model("y ~ x", counts, family="negbin")
    fails(capsys, ["tutorial", "--family", "poisson", *QUICK], r"--family applies to a model given by a formula")


# --------------------------------------------------------------------------------------
# what is read how
# --------------------------------------------------------------------------------------


def test_text_bernoulli_counts_the_second_sorted_value_and_proportions_read_as_counts():
    m = jaxmh.model("y ~ x + (1 | g)", table(y=["yes", "no", "no", "yes", "yes", "no"]), family="bernoulli")
    np.testing.assert_array_equal(np.asarray(m.data["y"]), [1, 0, 0, 1, 1, 0])
    assert m.layout.note == "y = 'yes' counted as 1, 'no' as 0"
    assert "sigma" not in m.layout.names and "sigma" not in m.priors
    counts = jaxmh.model("y ~ x + (1 | g)", table(y=[1, 2, 0, 0, 3, 6]), family="binomial", trials="n")
    props = jaxmh.model("y ~ x + (1 | g)", table(y=[0.2, 0.4, 0, 0, 0.5, 1]), family="binomial", trials="n")
    np.testing.assert_array_equal(np.asarray(props.data["y"]), np.asarray(counts.data["y"]))
    assert props.layout.note == "y read as proportions of the trials"
    constant = jaxmh.model("y ~ x + (1 | g)", table(y=[1, 2, 0, 0, 3, 5]), family="binomial", trials=6)
    np.testing.assert_array_equal(np.asarray(constant.data["trials"]), 6.0)


def test_default_priors_are_on_the_link_scale():
    data = table(y=[0, 30, 10, 20, 0, 10])
    m = jaxmh.model("y ~ x + (1 | g)", data, family="poisson")
    x = np.asarray(data["x"])
    assert m.priors["x"] == Normal(0.0, 2.5 / np.std(x, ddof=1))
    assert m.priors["Intercept"].loc == pytest.approx(np.log(np.mean(data["y"])))   # brms: link of the mean
    assert m.priors["sd(Intercept|g)"] == jaxmh.priors.Exponential(1.0)
    b = jaxmh.model("y ~ x + (1 | g)", table(y=[0, 1, 1, 0, 1, 1]), family="bernoulli")
    assert b.priors["Intercept"].loc == 0.0


# --------------------------------------------------------------------------------------
# exact posteriors: one parameter, by quadrature
# --------------------------------------------------------------------------------------


def _quadrature(logpost, lo, hi):
    grid = np.linspace(lo, hi, 200_001)
    lp = logpost(grid)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = np.sum(w * grid)
    return mean, np.sqrt(np.sum(w * (grid - mean) ** 2))


@pytest.mark.parametrize("family", ["binomial", "poisson_offset", "bernoulli"])
def test_one_coefficient_posterior_matches_quadrature(family):
    """``y ~ 1`` (no groups): the posterior of the intercept by quadrature; mean and sd within 4 MCSE."""
    rng = np.random.default_rng(7)
    n = 40
    prior = Normal(0.3, 1.5)
    if family == "binomial":
        trials = rng.integers(1, 12, n).astype(float)
        y = rng.binomial(trials.astype(int), 0.3).astype(float)
        m = jaxmh.model("y ~ 1", {"y": y, "t": trials}, family="binomial", trials="t", priors={"Intercept": prior})

        def loglik(b):
            return np.sum(y) * b - np.sum(trials) * np.logaddexp(0.0, b)
    elif family == "bernoulli":
        y = (rng.uniform(size=n) < 0.8).astype(float)
        m = jaxmh.model("y ~ 1", {"y": y}, family="bernoulli", priors={"Intercept": prior})

        def loglik(b):
            return np.sum(y) * b - n * np.logaddexp(0.0, b)
    else:
        exposure = rng.uniform(0.5, 3.0, n)
        y = rng.poisson(2.0 * exposure).astype(float)
        m = jaxmh.model("y ~ 1", {"y": y, "lexp": np.log(exposure)}, family="poisson", offset="lexp",
                        priors={"Intercept": prior})

        def loglik(b):
            return np.sum(y) * b - np.exp(b) * np.sum(exposure)
    mean, sd = _quadrature(lambda b: loglik(b[:, None]).ravel() + prior.logpdf(b).__array__(), -6, 6)
    result = jaxmh.fit(jax.random.key(1), m, num_samples=4000, num_warmup=500)
    x = np.asarray(result.draws["Intercept"], np.float64)
    assert abs(x.mean() - mean) < 4 * float(diagnostics.mcse_mean(x)), (x.mean(), mean)
    assert abs(x.std() - sd) < 4 * float(diagnostics.mcse_sd(x)), (x.std(), sd)


def test_log_density_is_the_full_log_posterior():
    """The model's log-density at a point: the likelihood with its constants plus every prior."""
    from math import lgamma
    data = table(y=[0, 3, 1, 2, 0, 1])
    m = jaxmh.model("y ~ x + (1 | g)", data, family="poisson")
    p = {"Intercept": 0.2, "x": -0.3, "sd(Intercept|g)": 0.7, "Intercept|g": np.array([0.1, -0.2])}
    eta = 0.2 - 0.3 * np.asarray(data["x"]) + np.repeat([0.1, -0.2], 3)
    y = np.asarray(data["y"], float)
    expected = np.sum(y * eta - np.exp(eta) - [lgamma(v + 1) for v in y])
    expected += sum(float(m.priors[k].logpdf(p[k])) for k in ("Intercept", "x", "sd(Intercept|g)"))
    expected += np.sum(-0.5 * (np.array([0.1, -0.2]) / 0.7) ** 2 - np.log(0.7) - 0.5 * np.log(2 * np.pi))
    got = float(m.logdensity({k: jax.numpy.asarray(v, jax.numpy.float32) for k, v in p.items()}))
    assert got == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------------------
# coverage of the true group effects on simulated data
# --------------------------------------------------------------------------------------


def _simulate(rng, family, num_groups=40, size=6):
    g = np.repeat(np.arange(num_groups), size)
    x = rng.normal(size=g.size).round(3)
    u = rng.normal(0.0, 0.8, num_groups)
    if family == "poisson":
        y = rng.poisson(np.exp(0.5 + 0.4 * x + u[g]))
        kwargs = {}
        data = {"y": y.astype(float), "x": x, "g": [f"g{v:02d}" for v in g]}
    else:
        trials = rng.integers(3, 10, g.size)
        y = rng.binomial(trials, 1.0 / (1.0 + np.exp(-(-0.4 + 0.6 * x + u[g]))))
        data = {"y": y.astype(float), "x": x, "g": [f"g{v:02d}" for v in g], "n": trials.astype(float)}
        kwargs = {"trials": "n"}
    return data, kwargs, u


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_intervals_of_true_group_effects_cover_at_the_nominal_rate(family):
    """90% intervals of 6 x 40 true group intercepts ``b0 + u_l`` (``u_l`` drawn from N(0, 0.8^2)) cover
    90% of them, within 3 binomial sds.  (Each group's own intercept is what its data inform; ``u_l``
    alone also carries the error of ``b0``, shared by all groups of a dataset, against the sample mean of
    the ``u`` drawn, so its coverage over a few datasets scatters far more than binomially.)"""
    rng = np.random.default_rng(11)
    b0 = {"poisson": 0.5, "binomial": -0.4}[family]
    hits, total = 0, 0
    for _ in range(6):
        data, kwargs, u = _simulate(rng, family)
        m = jaxmh.model("y ~ x + (1 | g)", data, family=family, **kwargs)
        result = jaxmh.fit(jax.random.key(total), m, num_samples=1000, num_warmup=500)
        draws = np.asarray(result.draws["Intercept|g"], np.float64) \
            + np.asarray(result.draws["Intercept"], np.float64)[..., None]
        lo, hi = np.quantile(draws.reshape(-1, len(u)), [0.05, 0.95], axis=0)
        hits += int(np.sum((lo <= b0 + u) & (b0 + u <= hi)))
        total += len(u)
    rate = hits / total
    assert abs(rate - 0.9) < 3 * np.sqrt(0.9 * 0.1 / total), rate


# --------------------------------------------------------------------------------------
# the response scale
# --------------------------------------------------------------------------------------


def test_response_scale_summary_is_the_inverse_link_of_the_draws():
    data, kwargs, _ = _simulate(np.random.default_rng(3), "binomial", num_groups=5, size=8)
    m = jaxmh.model("y ~ x + (1 | g)", data, family="binomial", **kwargs)
    result = jaxmh.fit(jax.random.key(0), m, num_samples=300, num_warmup=200)
    s = jaxmh.summary(result, scale="response", warn=False)
    b0 = np.asarray(result.draws["Intercept"], np.float64)
    u = np.asarray(result.draws["Intercept|g"], np.float64)
    assert s.to_dict()["Intercept"]["mean"] == pytest.approx(np.mean(1 / (1 + np.exp(-b0))), rel=1e-9)
    assert s.to_dict()["x"]["mean"] == pytest.approx(np.mean(np.exp(np.asarray(result.draws["x"], np.float64))),
                                                     rel=1e-9)
    label = m.coords["Intercept|g"][2]
    assert s.to_dict()[f"Intercept|g[{label}]"]["mean"] == pytest.approx(
        np.mean(1 / (1 + np.exp(-(b0 + u[..., 2])))), rel=1e-9)
    assert not any(n.startswith("sd(") for n in s.names)
    with pytest.raises(ValueError, match="scale must be 'link' or 'response'"):
        jaxmh.summary(result, scale="probability")
    gaussian = jaxmh.fit(jax.random.key(0), jaxmh.model("x ~ 1 + (1 | g)", data), num_samples=50, num_warmup=50)
    with pytest.raises(ValueError, match="identity link"):
        jaxmh.summary(gaussian, scale="response", warn=False)
    with pytest.raises(ValueError, match="formula model"):
        response_scale.transform(dict(result.draws), None)
    fig = jaxmh.plots.caterpillar(result, "Intercept|g", list(m.coords["Intercept|g"]), scale="response")
    ax = fig.axes[0]
    points = np.concatenate([np.asarray(line.get_xdata(), float) for line in ax.lines if len(line.get_xdata())])
    assert np.all((points >= 0) & (points <= 1)), points                  # probabilities, not log-odds
    with pytest.raises(ValueError, match="scale must be 'link' or 'response'"):
        jaxmh.plots.caterpillar(result, "Intercept|g", scale="odds")


def test_command_line_fit_on_the_response_scale(capsys, tmp_path):
    code = cli.main(["fit", "cbpp", "incidence ~ C(period) + (1 | herd)", "--family", "binomial", "--trials", "size",
                     "--scale", "response", "--out", str(tmp_path), "--samples", "300", "--warmup", "200"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "family: binomial (logit link); trials: size" in out
    assert "response scale: Intercept rows are the probability" in out
    assert "sigma" not in out
    assert (tmp_path / "caterpillar_herd.png").read_bytes().startswith(b"\x89PNG")


def test_chain_c_is_the_same_with_3_and_8_chains():
    """As for the Gaussian family (tests/test_formula_model.py): chain c's draws do not depend on how many
    chains run, to rounding -- the Newton iterations run per chain under vmap, each until its own
    tolerance."""
    m = jaxmh.model("TICKS ~ C(YEAR) + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                    jaxmh.datasets.columns("grouseticks"), family="poisson")
    few = jaxmh.fit(jax.random.key(5), m, num_chains=3, num_samples=10, num_warmup=20)
    many = jaxmh.fit(jax.random.key(5), m, num_chains=8, num_samples=10, num_warmup=20)
    for k in few.draws:
        a, b = np.asarray(few.draws[k], np.float64), np.asarray(many.draws[k], np.float64)
        spread = b.std(axis=(0, 1))
        assert np.all(np.abs(a - b[:3]) < 0.02 * spread), (k, np.max(np.abs(a - b[:3]) / spread))


def test_nested_totals_density_is_the_gaussian_of_the_totals():
    """The collapsed nested-sds move's density of the inner totals (count, sum and sum of squares per outer
    level) is the multivariate normal with covariance s_in^2 I + s_out^2 11' within each outer level."""
    from scipy.stats import multivariate_normal
    from jaxmh.models._glm_updates import nested_totals_logpdf
    rng = np.random.default_rng(3)
    sizes = [1, 2, 3, 5]
    s_in, s_out = 0.7, 1.3
    totals = [rng.normal(size=n) * 1.5 for n in sizes]
    exact = sum(multivariate_normal(np.zeros(n), s_in ** 2 * np.eye(n) + s_out ** 2 * np.ones((n, n))).logpdf(t)
                for n, t in zip(sizes, totals))
    count = np.array(sizes, float)
    between = np.array([t.sum() ** 2 / len(t) for t in totals])
    within = np.array([np.sum(t * t) for t in totals]) - between
    got = float(nested_totals_logpdf(np.log(np.array([s_in, s_out])), count, within, between))
    assert got - sum(sizes) * 0.5 * np.log(2 * np.pi) == pytest.approx(exact, abs=1e-4)


def test_shift_moves_are_grouped_by_the_effects_they_move():
    from jaxmh.models._glm_updates import shift_groups
    shifts = ((0, 0, "Intercept"), (0, 0, "YEAR[96]"), (1, 0, "Intercept"), (0, 1, "x"), (0, 0, "cHEIGHT"))
    assert shift_groups(shifts) == ((0, 1, 4), (2,), (3,))
