"""Result.to_arviz(): the draws as an ArviZ InferenceData, and a clear error without ArviZ."""

from __future__ import annotations

import sys

import arviz
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmh
from jaxmh import diagnostics


@pytest.fixture(scope="module")
def result():
    """4 chains x 300 draws of a small normal target: alpha (3,), theta (2, 2), sigma ()."""
    def logdensity(p):
        return -0.5 * (jnp.sum(p["alpha"] ** 2) + jnp.sum(p["theta"] ** 2) + p["sigma"] ** 2)

    start = {"alpha": jnp.zeros((4, 3)), "theta": jnp.zeros((4, 2, 2)), "sigma": jnp.ones(4)}
    return jaxmh.sample(jax.random.key(11), jaxmh.rwm(logdensity, 0.5), start, num_samples=300, num_warmup=50)


def test_posterior_holds_every_parameter_with_chain_draw_dims(result):
    idata = result.to_arviz()
    assert isinstance(idata, arviz.InferenceData)
    posterior = idata.posterior
    assert set(posterior.data_vars) == {"alpha", "theta", "sigma"}
    assert posterior.sizes["chain"] == 4 and posterior.sizes["draw"] == 300
    for name, draws in result.draws.items():
        var = posterior[name]
        assert var.dims[:2] == ("chain", "draw")
        assert var.shape == np.shape(draws)
        np.testing.assert_array_equal(var.values, np.asarray(draws))


def test_sample_stats_acceptance_rate(result):
    stats = result.to_arviz().sample_stats
    rate = stats["acceptance_rate"]
    assert rate.dims == ("chain", "draw") and rate.shape == (4, 300)
    expected = np.broadcast_to(np.asarray(result.acceptance_rate)[:, None], (4, 300))
    np.testing.assert_array_equal(rate.values, expected)
    assert np.all((rate.values > 0) & (rate.values < 1))


def test_arviz_diagnostics_on_the_inference_data_agree_with_jaxmh(result):
    idata = result.to_arviz()
    ess = arviz.ess(idata, method="bulk")
    rhat = arviz.rhat(idata)
    sigma = np.asarray(result.draws["sigma"], dtype=np.float64)
    # ArviZ computes in the draws' float32; jaxmh in float64: agreement to float32 rounding
    assert float(ess["sigma"]) == pytest.approx(diagnostics.ess_bulk(sigma), rel=1e-4)
    assert float(rhat["sigma"]) == pytest.approx(diagnostics.rhat(sigma), rel=1e-4)
    theta = np.asarray(result.draws["theta"], dtype=np.float64)
    np.testing.assert_allclose(ess["theta"].values, diagnostics.ess_bulk(theta), rtol=1e-4)


def test_missing_arviz_raises_import_error_with_install_hint(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)               # makes `import arviz` fail
    with pytest.raises(ImportError, match="pip install") as info:
        result.to_arviz()
    assert "arviz" in str(info.value).lower()


def test_result_without_draws_raises(result):
    empty = result._replace(draws={})
    with pytest.raises(ValueError, match="no draws"):
        empty.to_arviz()
