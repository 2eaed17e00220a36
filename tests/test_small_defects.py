"""Small defects a new user hit: CSV files that are not comma-separated, a folder given as the
data file, rows dropped without a word, and figures that hide or blur what they show."""

from __future__ import annotations

import csv
import re

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

import jaxmh  # noqa: E402
from jaxmh import cli, plots  # noqa: E402
from jaxmh.data import GroupedData, from_csv  # noqa: E402


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


ROWS = [[1.0, 0.5, "a"], [2.0, 1.5, "a"], [1.5, 0.0, "b"], [2.5, 1.0, "b"]]


# --------------------------------------------------------------------------------------
# 1. a file separated by ';' or tabs, and a folder instead of a file
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter, name", [(";", "';'"), ("\t", "tabs")])
def test_a_file_not_separated_by_commas_says_so(tmp_path, delimiter, name):
    path = write_csv(tmp_path / "scores.csv", ["score", "hours", "school"], ROWS, delimiter=delimiter)
    with pytest.raises(ValueError) as info:
        from_csv(path, x="hours", y="score", group="school")
    message = str(info.value)
    assert "column(s) ['hours', 'score', 'school'] not found" in message       # still names them
    assert f"looks delimited by {name}" in message
    assert "jaxmh reads comma-separated files" in message and "save it as CSV with commas" in message


def test_a_comma_file_with_a_wrong_column_name_gets_no_delimiter_hint(tmp_path):
    path = write_csv(tmp_path / "scores.csv", ["score", "hours", "school"], ROWS)
    with pytest.raises(ValueError, match=r"\['school;x'\] not found") as info:
        from_csv(path, x="hours", y="score", group="school;x")
    assert "delimited" not in str(info.value)
    # the same file with commas reads fine
    data = from_csv(path, x="hours", y="score", group="school")
    assert data.labels == ("a", "b") and data.num_obs == 4


def test_a_directory_is_not_a_csv_file(tmp_path):
    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path))} is a directory, not a CSV file$"):
        from_csv(tmp_path, x="x", y="y", group="g")


def test_cli_fit_on_a_directory_is_a_one_line_error(tmp_path, capsys):
    code = cli.main(["fit", str(tmp_path), "--y", "y", "--x", "x", "--group", "g", "--no-plots"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err == f"jaxmh fit: error: {tmp_path} is a directory, not a CSV file\n"
    assert "Traceback" not in out + err
    code = cli.main(["fit", str(tmp_path), "--no-plots"])      # no columns named: the same message
    assert code == 2 and capsys.readouterr().err == f"jaxmh fit: error: {tmp_path} is a directory, not a CSV file\n"


# --------------------------------------------------------------------------------------
# 2. drop_missing says which rows it dropped
# --------------------------------------------------------------------------------------
def test_drop_missing_records_the_dropped_rows(tmp_path):
    rows = [["a", 0.0, 1.0], ["a", "", 2.0], ["a", 1.0, 2.0], ["b", 0.0, "NA"], ["b", 0.0, 1.5],
            ["b", "nan", "null"], ["b", 1.0, 2.5]]
    path = write_csv(tmp_path / "d.csv", ["g", "x", "y"], rows)
    data = from_csv(path, x="x", y="y", group="g", drop_missing=True)
    assert data.dropped_rows == (2, 4, 6)                   # data rows, 1-based, header not counted
    assert data.num_obs == len(rows) - 3
    np.testing.assert_array_equal(data.x, [0.0, 1.0, 0.0, 1.0])
    # the numbering is the one the error messages use: without drop_missing, row 2 is the culprit
    with pytest.raises(ValueError, match=r"column 'x' must be numeric; row 2 has ''"):
        from_csv(path, x="x", y="y", group="g")


def test_dropped_rows_is_empty_when_nothing_is_dropped_and_backwards_compatible(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["y", "x", "g"], ROWS)
    assert from_csv(path, x="x", y="y", group="g", drop_missing=True).dropped_rows == ()
    assert from_csv(path, x="x", y="y", group="g").dropped_rows == ()
    d = GroupedData(np.zeros(3), np.ones(3), np.array([0, 1, 1]))
    assert d.dropped_rows == ()
    assert "dropped" not in repr(d)
    d2 = GroupedData(np.zeros(3), np.ones(3), np.array([0, 1, 1]), ("p", "q"), dropped_rows=[np.int64(7)])
    assert d2.labels == ("p", "q") and d2.dropped_rows == (7,) and type(d2.dropped_rows[0]) is int


# --------------------------------------------------------------------------------------
# 3. figures
# --------------------------------------------------------------------------------------
def drawn(fig):
    """Draw ``fig`` on an Agg canvas (running its layout); returns the renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


@pytest.fixture(scope="module")
def radon_fit():
    data, counties = jaxmh.datasets.radon()
    result = jaxmh.fit(jax.random.key(0), jaxmh.models.hierarchical(data), num_samples=300, num_warmup=300)
    return data, counties, result


@pytest.mark.parametrize("params", ["alpha", ["alpha", "beta"]])
def test_caterpillar_legend_covers_no_county(radon_fit, params):
    data, counties, result = radon_fit
    fig = plots.caterpillar(result, params, counties)
    renderer = drawn(fig)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == len(fig.axes)                          # every panel has its mu_ line
    for ax in fig.axes:
        legend, data_area = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert not legend.overlaps(data_area), (legend, data_area)
        assert legend.y0 >= data_area.y1                          # above the axes...
        assert not legend.overlaps(ax.title.get_window_extent(renderer))    # ...under the title
        assert fig.bbox.contains(legend.x0, legend.y1) and fig.bbox.contains(legend.x1, legend.y1)
    # the rows the old legend in the lower right hid are drawn and labelled
    labels = [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    assert {"MARSHALL", "WINONA"} <= set(labels) and len(labels) == data.num_groups == 85


def visible_x_labels(ax) -> list:
    lo, hi = sorted(ax.get_xlim())
    return [t for t in ax.get_xticklabels(which="both")
            if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi]


@pytest.mark.parametrize("sizes", [
    np.array([5, 6, 6, 7, 8, 8, 9, 10, 10, 5]),                   # the new user's: 6x10^0, 7x10^0, ... collided
    np.array([6, 7, 8, 9, 9]),
    np.arange(1, 117),
    "radon",                                                      # 1..116 rows per county
    np.array([100, 101, 104, 108, 110]),
    np.array([1, 3, 40, 700, 5000]),
])
def test_partial_pooling_group_size_labels_are_whole_numbers_that_do_not_collide(sizes):
    if isinstance(sizes, str):
        sizes = jaxmh.datasets.radon()[0].group_sizes
    rng = np.random.default_rng(0)
    centres = rng.normal(size=len(sizes))
    hierarchical = {k: centres + 0.1 * rng.normal(size=(2, 40, len(sizes))) for k in ("alpha", "beta")}
    hierarchical["mu_alpha"] = rng.normal(size=(2, 40))
    unpooled = {k: 2 * v for k, v in hierarchical.items()}
    fig = plots.partial_pooling(hierarchical, unpooled, ["alpha", "beta"], group_sizes=sizes)   # as jaxmh fit
    renderer = drawn(fig)
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        labels = visible_x_labels(ax)
        texts = [t.get_text() for t in labels]
        assert len(labels) >= 2, texts
        assert all(text.isdigit() for text in texts), texts                     # 6, not 6x10^0
        assert all(float(t.get_text()) == t.get_position()[0] for t in labels)  # each says where it is
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        for left, right in zip(boxes, boxes[1:]):
            assert left.x1 < right.x0, texts
        # every group (with its jitter) is inside the axis
        points = ax.collections[0].get_offsets()[:, 0]
        assert ax.get_xlim()[0] < points.min() and points.max() < ax.get_xlim()[1]


def figure_texts(fig) -> list:
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title(loc) for loc in ("left", "center", "right")]
        texts += [t.get_text() for t in ax.texts]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return texts


@pytest.fixture(scope="module")
def short_comparison():
    """The tutorial's rwm at 100 + 200 steps: too short to converge."""
    data, truth = jaxmh.data.simulate(jax.random.key(0))
    return jaxmh.compare(jax.random.key(1), data, truth, num_samples=200, num_warmup=100)


def test_shrinkage_marks_the_fits_that_did_not_converge(short_comparison):
    failed = [f for f in short_comparison.fits if not short_comparison.converged(f)]
    assert failed                                                 # the premise: too short a run
    fig = plots.shrinkage(short_comparison)
    drawn(fig)
    for ax, f in zip(fig.axes, short_comparison.fits):
        note = f"not converged: R-hat {f.max_rhat:.2f}, bulk ESS {f.min_ess_bulk:.0f}"
        assert ax.get_title().startswith(f.model)
        assert (note in ax.get_title()) == (f in failed), ax.get_title()
    assert sum("not converged" in t for t in figure_texts(fig)) == len(failed)


def test_shrinkage_of_converged_fits_carries_no_mark(short_comparison):
    fits = tuple(f._replace(max_rhat=1.0, min_ess_bulk=1e6) for f in short_comparison.fits)
    converged = short_comparison._replace(fits=fits)
    assert all(converged.converged(f) for f in converged.fits)
    fig = plots.shrinkage(converged)
    assert [ax.get_title() for ax in fig.axes] == [f.model for f in fits]
    assert not any("converged" in t for t in figure_texts(fig))
    # one model doctored back to a failing R-hat: only its panel is marked
    mixed = converged._replace(fits=(fits[0]._replace(max_rhat=1.78),) + fits[1:])
    titles = [ax.get_title() for ax in plots.shrinkage(mixed).axes]
    assert titles[0] == f"{fits[0].model}\nnot converged: R-hat 1.78, bulk ESS 1000000"
    assert titles[1:] == [f.model for f in fits[1:]]
