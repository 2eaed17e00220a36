"""Caterpillar and real-data shrinkage plots."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxmh import plots


@pytest.fixture
def draws():
    rng = np.random.default_rng(0)
    centres = np.array([0.5, -1.0, 2.0, 0.0])
    return {"alpha": centres + 0.1 * rng.normal(size=(2, 300, 4)),
            "beta": -centres + 0.1 * rng.normal(size=(2, 300, 4)),
            "mu_alpha": 0.4 + 0.01 * rng.normal(size=(2, 300))}


def test_caterpillar_sorts_groups_by_mean_with_their_labels(draws):
    fig = plots.caterpillar(draws, ["alpha", "beta"], ["a", "b", "c", "d"])
    assert isinstance(fig, Figure)
    ax_a, ax_b = fig.axes
    assert [t.get_text() for t in ax_a.get_yticklabels()] == ["b", "d", "a", "c"]   # ascending means
    assert [t.get_text() for t in ax_b.get_yticklabels()] == ["c", "a", "d", "b"]
    # one dot per group at its posterior mean, and the hierarchical mean as a line where there is one
    dots = ax_a.lines[0].get_xdata()
    np.testing.assert_allclose(dots, np.sort(draws["alpha"].mean(axis=(0, 1))))
    assert ax_a.get_legend() is not None and ax_b.get_legend() is None


def test_caterpillar_in_data_order_and_default_labels(draws):
    fig = plots.caterpillar(draws, "alpha", sort=False)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["3", "2", "1", "0"]    # first on top


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(params="gamma"), ValueError, "unknown parameter 'gamma'"),
    (dict(params="mu_alpha"), ValueError, "per-group parameter"),
    (dict(params="alpha", labels=["a", "b"]), ValueError, "labels has 2 names for 4 groups"),
    (dict(params="alpha", prob=1.5), ValueError, "prob"),
    (dict(params=[]), ValueError, "params is empty"),
])
def test_caterpillar_bad_arguments(draws, kwargs, error, message):
    with pytest.raises(error, match=message):
        plots.caterpillar(draws, **kwargs)


def test_partial_pooling_shows_identified_groups_only(draws):
    unpooled = {"alpha": draws["alpha"] * 2, "beta": draws["beta"] * 2}
    identified = {"beta": np.array([True, False, True, True])}
    fig = plots.partial_pooling(draws, unpooled, ["alpha", "beta"], group_sizes=[1, 5, 20, 100],
                                identified=identified)
    ax_a, ax_b = fig.axes
    assert len(ax_a.collections[0].get_offsets()) == 4        # unpooled points
    assert len(ax_b.collections[0].get_offsets()) == 3
    assert "1 group(s) not identified" in ax_b.get_title()
    np.testing.assert_allclose(np.sort(ax_a.collections[1].get_offsets()[:, 1]),
                               np.sort(draws["alpha"].mean(axis=(0, 1))))
    assert ax_a.get_xscale() == "log"


def test_partial_pooling_checks_shapes(draws):
    with pytest.raises(ValueError, match="one entry per group"):
        plots.partial_pooling(draws, draws, "alpha", group_sizes=[1, 2, 3])
    with pytest.raises(ValueError, match="identified"):
        plots.partial_pooling(draws, draws, "alpha", group_sizes=[1, 2, 3, 4], identified={"alpha": [True]})
