"""The eight schools model against the Stan posterior database's reference draws."""

from __future__ import annotations

import gzip
import json

import jax
import numpy as np
import pytest
from conftest import SCHOOLS_REFERENCE
from scipy import stats

import jaxmh
from jaxmh import diagnostics
from jaxmh.priors import HalfCauchy, Normal

NAMES = ["mu", "tau"] + [f"theta[{j}]" for j in range(8)]


@pytest.fixture(scope="module")
def reference():
    """``{name: (chain, draw)}`` with 0-based theta indices (the file's are 1-based)."""
    with gzip.open(SCHOOLS_REFERENCE, "rt") as handle:
        chains = json.load(handle)
    rename = {"mu": "mu", "tau": "tau", **{f"theta[{j + 1}]": f"theta[{j}]" for j in range(8)}}
    return {rename[k]: np.array([c[k] for c in chains]) for k in chains[0]}


def _columns(draws: dict) -> dict:
    theta = np.asarray(draws["theta"], np.float64)
    out = {"mu": np.asarray(draws["mu"], np.float64), "tau": np.asarray(draws["tau"], np.float64)}
    out.update({f"theta[{j}]": theta[..., j] for j in range(8)})
    return out


def _assert_matches(draws: dict, reference: dict) -> None:
    mine = _columns(draws)
    failures = []
    for name in NAMES:
        a, b = mine[name], reference[name]
        for what, stat, mcse in (("mean", np.mean, diagnostics.mcse_mean),
                                 ("sd", lambda v: np.std(v, ddof=1), diagnostics.mcse_sd)):
            z = abs(stat(a) - stat(b)) / np.hypot(mcse(a), mcse(b))
            if not z < 4:
                failures.append(f"{what} of {name}: {stat(a):.3f} vs {stat(b):.3f} ({z:.1f} MCSE)")
    assert not failures, "; ".join(failures)


@pytest.mark.parametrize("centered", [False, True], ids=["noncentered", "centered"])
def test_eight_schools_matches_posteriordb_reference(reference, centered):
    y, sigma = jaxmh.datasets.eight_schools()
    model = jaxmh.models.eight_schools(y, sigma, centered=centered)
    assert model.group_params == (("theta",) if centered else ("theta_tilde",))
    result = jaxmh.models.with_theta(jaxmh.fit(jax.random.key(11), model, num_samples=20_000))
    assert result.draws["theta"].shape == (4, 20_000, 8)
    assert min(float(diagnostics.ess_bulk(v)) for v in _columns(result.draws).values()) > 1000
    _assert_matches(result.draws, reference)


def test_reference_draws_are_what_the_readme_says(reference):
    assert set(reference) == set(NAMES)
    assert all(v.shape == (10, 1000) for v in reference.values())


def test_logdensity_matches_scipy_in_both_parameterisations(x64):
    y, sigma = jaxmh.datasets.eight_schools()
    rng = np.random.default_rng(0)
    mu, tau, tt = 1.3, 2.7, rng.normal(size=8)
    theta = mu + tau * tt
    prior = stats.norm.logpdf(mu, 0, 5) + np.log(2) + stats.cauchy.logpdf(tau, 0, 5)
    lik = stats.norm.logpdf(y, theta, sigma).sum()
    centred = jaxmh.models.eight_schools(y, sigma, centered=True)
    got = centred.logdensity({"theta": theta, "mu": mu, "tau": tau})
    np.testing.assert_allclose(got, prior + stats.norm.logpdf(theta, mu, tau).sum() + lik, rtol=1e-12)
    noncentred = jaxmh.models.eight_schools(y, sigma)
    got = noncentred.logdensity({"theta_tilde": tt, "mu": mu, "tau": tau})
    np.testing.assert_allclose(got, prior + stats.norm.logpdf(tt).sum() + lik, rtol=1e-12)
    assert noncentred.logdensity({"theta_tilde": tt, "mu": mu, "tau": -1.0}) == -np.inf


@pytest.mark.parametrize("centered", [False, True])
def test_split_and_interweaving_transform_are_consistent(x64, centered):
    """group + global terms add up to the log-density, and unstandardize inverts standardize."""
    y, sigma = jaxmh.datasets.eight_schools()
    model = jaxmh.models.eight_schools(y, sigma, centered=centered, prior_mu=Normal(1, 4),
                                       prior_tau=HalfCauchy(2))
    p = jax.tree.map(lambda v: v[0], model.init(jax.random.key(3), 1))
    split = model.split
    np.testing.assert_allclose(split.global_logdensity(p) + split.group_logdensity(p).sum(),
                               model.logdensity(p), rtol=1e-12)
    z, logdet = split.standardize(p)
    back = split.unstandardize(z, p)
    name = model.group_params[0]
    np.testing.assert_allclose(back[name], p[name], rtol=1e-12)
    jac = jax.jacobian(lambda v: split.unstandardize({name: v}, p)[name])(z[name])
    np.testing.assert_allclose(logdet, np.linalg.slogdet(jac)[1], rtol=1e-10)


def test_with_theta_on_dicts_and_centred_draws():
    draws = {"theta_tilde": np.ones((2, 3, 8)), "mu": np.full((2, 3), 1.0), "tau": np.full((2, 3), 2.0)}
    out = jaxmh.models.with_theta(draws)
    np.testing.assert_array_equal(out["theta"], np.full((2, 3, 8), 3.0))
    assert "theta" not in draws                                    # the input is not modified
    centred = {"theta": np.zeros((2, 3, 8)), "mu": np.zeros((2, 3)), "tau": np.ones((2, 3))}
    assert jaxmh.models.with_theta(centred) is not None
    np.testing.assert_array_equal(jaxmh.models.with_theta(centred)["theta"], centred["theta"])
    with pytest.raises(ValueError, match="theta_tilde"):
        jaxmh.models.with_theta({"mu": np.zeros((2, 3))})
    with pytest.raises(TypeError, match="Result"):
        jaxmh.models.with_theta([1, 2])
