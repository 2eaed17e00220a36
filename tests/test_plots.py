"""jaxmh.plots: figures of the right layout, and parameter selection by name."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import jaxmh  # noqa: E402
from jaxmh import plots  # noqa: E402


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """The plot functions build bare Figures: they leave pyplot's figure list untouched."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a jaxmh.plots function opened a pyplot figure"
    plt.close("all")


@pytest.fixture(scope="module")
def draws():
    rng = np.random.default_rng(0)
    return {
        "alpha": rng.normal(size=(3, 50, 10)),
        "theta": rng.normal(size=(3, 50, 2, 3)),
        "mu": rng.normal(size=(3, 50)),
        "sigma": rng.gamma(2.0, size=(3, 50)),
    }


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


# --------------------------------------------------------------------------------------
# select
# --------------------------------------------------------------------------------------
def test_select_returns_the_right_slice(draws):
    np.testing.assert_array_equal(plots.select(draws, "alpha[3]"), draws["alpha"][:, :, 3])
    np.testing.assert_array_equal(plots.select(draws, "alpha[0]"), draws["alpha"][:, :, 0])
    np.testing.assert_array_equal(plots.select(draws, "alpha[9]"), draws["alpha"][:, :, 9])
    np.testing.assert_array_equal(plots.select(draws, "sigma"), draws["sigma"])
    np.testing.assert_array_equal(plots.select(draws, "theta[1,2]"), draws["theta"][:, :, 1, 2])
    assert plots.select(draws, "alpha[3]").shape == (3, 50)


def test_select_accepts_a_result(draws):
    result = jaxmh.Result(draws, np.full(3, 0.3), None)
    np.testing.assert_array_equal(plots.select(result, "alpha[3]"), draws["alpha"][:, :, 3])


@pytest.mark.parametrize("name", ["nope", "alpha[99]", "alpha[10]", "sigma[0]", "alpha",
                                  "theta[1]", "theta[2,0]", "alpha[-1]", "alpha[x]"])
def test_select_bad_names(draws, name):
    with pytest.raises(ValueError, match="parameter"):
        plots.select(draws, name)


# --------------------------------------------------------------------------------------
# trace and rank
# --------------------------------------------------------------------------------------
def test_trace_default_shows_the_scalar_parameters(draws):
    fig = plots.trace(draws)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 2                                    # mu, sigma: trace + histogram
    labels = [ax.get_ylabel() for ax in fig.axes[::2]]
    assert labels == ["mu", "sigma"]
    # one line per chain, holding that chain's draws
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[1].get_ydata(), draws["mu"][1])
    fig.savefig(io.BytesIO(), format="png")                          # renders


def test_trace_of_named_parameters(draws):
    fig = plots.trace(draws, ["alpha[3]", "theta[0,1]", "sigma"])
    assert len(fig.axes) == 3 * 2
    np.testing.assert_array_equal(fig.axes[0].get_lines()[2].get_ydata(), draws["alpha"][2, :, 3])
    assert len(plots.trace(draws, "alpha[1]").axes) == 2             # one name as a string


def test_trace_without_scalar_parameters_shows_the_first_element():
    fig = plots.trace({"alpha": np.zeros((2, 20, 4)) + np.arange(20)[None, :, None]})
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "alpha[0]"


@pytest.mark.parametrize("params, num_axes", [
    (["mu"], 1), (["mu", "sigma"], 2), (["alpha[0]", "alpha[1]", "alpha[2]"], 3),
    (["alpha[0]", "alpha[1]", "alpha[2]", "mu"], 4), ([f"alpha[{i}]" for i in range(7)], 7),
])
def test_rank_has_one_panel_per_parameter(draws, params, num_axes):
    fig = plots.rank(draws, params)
    assert isinstance(fig, Figure)
    assert len(visible_axes(fig)) == num_axes
    assert [ax.get_title() for ax in visible_axes(fig)] == params


def test_rank_histograms_count_every_draw(draws):
    bins = 10
    fig = plots.rank(draws, ["sigma"], bins=bins)
    ax = visible_axes(fig)[0]
    counts = [patch.get_data().values for patch in ax.patches]     # one stairs per chain
    assert len(counts) == 3
    for c in counts:
        assert len(c) == bins and c.sum() == 50                     # each chain's 50 ranks
    assert np.sum(counts, axis=0) == pytest.approx(np.full(bins, 150 / bins))  # ranks are uniform overall


@pytest.mark.parametrize("fn", [plots.trace, plots.rank])
def test_plots_reject_bad_names(draws, fn):
    with pytest.raises(ValueError):
        fn(draws, ["alpha[99]"])


# --------------------------------------------------------------------------------------
# shrinkage
# --------------------------------------------------------------------------------------
def _comparison(model_names, truth=True):
    data, true_values = jaxmh.datasets.tutorial()
    rng = np.random.default_rng(1)
    fits = []
    for name in model_names:
        alpha = true_values["alpha"] + 0.3 * rng.normal(size=data.num_groups)
        beta = true_values["beta"] + 0.3 * rng.normal(size=data.num_groups)
        fits.append(jaxmh.ModelFit(name, 0.3, 0.3, 0.3, 2.0, 1.0, 500.0, 1.0, alpha, beta, None))
    return jaxmh.Comparison(data, true_values if truth else None, tuple(fits))


@pytest.mark.parametrize("models", [("hierarchical",), ("unpooled", "hierarchical"),
                                    ("pooled", "unpooled", "hierarchical")])
def test_shrinkage_has_one_panel_per_model(models):
    comparison = _comparison(models)
    fig = plots.shrinkage(comparison)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == len(models)
    assert [ax.get_title() for ax in fig.axes] == list(models)
    # each panel: the truth (open circles) and the estimates, one point per group
    g = comparison.data.num_groups
    for ax, fit in zip(fig.axes, comparison.fits):
        truth_pts, estimate_pts = ax.collections[:2]
        assert truth_pts.get_offsets().shape == (g, 2)
        np.testing.assert_allclose(estimate_pts.get_offsets(), np.c_[fit.alpha_mean, fit.beta_mean])
    fig.savefig(io.BytesIO(), format="png")


def test_shrinkage_needs_the_truth():
    with pytest.raises(ValueError, match="truth"):
        plots.shrinkage(_comparison(("hierarchical",), truth=False))
