"""Grouped data: validation, CSV loading, the tutorial's R dataset and the simulator."""

from __future__ import annotations

import csv

import jax
import numpy as np
import pytest
from conftest import SEED_R_ALPHA_1, SEED_R_SUM_Y, SEED_R_TRUTH, ols_by_group
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxmh.data import GroupedData, from_csv, read_truth_csv, simulate

# --------------------------------------------------------------------------------------
# The tutorial's R dataset
# --------------------------------------------------------------------------------------


def test_seed_r_dataset_matches_the_published_checks(seed_r):
    data, truth = seed_r
    assert data.num_obs == 375 and data.num_groups == 75
    assert data.group_sizes.tolist() == [5] * 75
    assert data.labels == tuple(str(i) for i in range(1, 76))
    assert data.x.dtype == np.float64 and data.y.dtype == np.float64
    assert abs(data.y.sum() - SEED_R_SUM_Y) < 1e-10
    assert abs(truth["alpha"][0] - SEED_R_ALPHA_1) < 1e-13
    assert truth["alpha"].shape == truth["beta"].shape == (75,)
    # Rows are in file order, group by group.
    np.testing.assert_array_equal(data.group, np.repeat(np.arange(75), 5))


def test_truth_is_matched_to_the_data_by_label(tmp_path, seed_r):
    data, truth = seed_r
    with open(SEED_R_TRUTH, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(0)
    shuffled = tmp_path / "truth.csv"
    with open(shuffled, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["i", "alpha", "beta"])
        writer.writeheader()
        for k in rng.permutation(len(rows)):
            writer.writerow(rows[k])
    again = read_truth_csv(shuffled, data)
    np.testing.assert_array_equal(again["alpha"], truth["alpha"])
    np.testing.assert_array_equal(again["beta"], truth["beta"])
    # A group without a truth row is an error.
    missing = tmp_path / "missing.csv"
    with open(missing, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["i", "alpha", "beta"])
        writer.writeheader()
        writer.writerows(rows[:-1])
    with pytest.raises(ValueError, match="75"):
        read_truth_csv(missing, data)


# --------------------------------------------------------------------------------------
# GroupedData validation
# --------------------------------------------------------------------------------------


def test_grouped_data_basics():
    d = GroupedData(x=[0.0, 1.0, 2.0, 3.0], y=[1.0, 2.0, 2.0, 5.0], group=[1, 0, 1, 2], labels=["a", "b", "c"])
    assert d.num_groups == 3 and d.num_obs == 4
    assert d.group_sizes.tolist() == [1, 2, 1]
    assert d.labels == ("a", "b", "c")
    assert d.x.dtype == np.float64 and d.group.dtype == np.int32
    # Integer-valued floats are accepted as group indices.
    assert GroupedData([0.0, 1.0], [0.0, 1.0], np.array([0.0, 1.0])).group.tolist() == [0, 1]
    assert "num_groups=3" in repr(d)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=[0.0, 1.0], y=[0.0, 1.0, 2.0], group=[0, 0, 0]), "equal lengths"),
        (dict(x=[0.0, 1.0], y=[0.0, 1.0], group=[0, 0, 1]), "equal lengths"),
        (dict(x=[0.0, np.nan], y=[0.0, 1.0], group=[0, 0]), "x"),
        (dict(x=[0.0, 1.0], y=[np.inf, 1.0], group=[0, 0]), "y"),
        (dict(x=[0.0, 1.0], y=[0.0, -np.inf], group=[0, 0]), "y"),
        (dict(x=[0.0, 1.0, 2.0], y=[0.0, 1.0, 2.0], group=[0, 2, 2]), r"\[1\]"),
        (dict(x=[0.0, 1.0], y=[0.0, 1.0], group=[-1, 0]), ">= 0"),
        (dict(x=[], y=[], group=[]), "no rows"),
        (dict(x=[[0.0, 1.0]], y=[[0.0, 1.0]], group=[0, 0]), "1-D"),
        (dict(x=[0.0, 1.0], y=[0.0, 1.0], group=[0, 1], labels=["only-one"]), "labels"),
    ],
    ids=["y-longer", "group-longer", "x-nan", "y-inf", "y-neginf", "missing-group", "negative-group",
         "empty", "2-d", "labels-length"],
)
def test_grouped_data_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GroupedData(**kwargs)


def test_non_integer_group_indices_raise_type_error():
    with pytest.raises(TypeError, match="group"):
        GroupedData([0.0, 1.0], [0.0, 1.0], [0.0, 0.5])
    with pytest.raises(TypeError, match="group"):
        GroupedData([0.0, 1.0], [0.0, 1.0], ["a", "b"])


# --------------------------------------------------------------------------------------
# from_csv
# --------------------------------------------------------------------------------------


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_from_csv_maps_string_labels_in_first_appearance_order(tmp_path):
    path = _write(
        tmp_path / "d.csv",
        ["id", "dose", "response", "note"],
        [["zeta", 1, 2.5, "q"], ["alpha", 2, 3.5, "r"], ["zeta", 3, 4.0, ""], ["mid", 4, 1e-3, "s"],
         ["alpha", 5, -2, "t"]],
    )
    d = from_csv(path, x="dose", y="response", group="id")
    assert d.labels == ("zeta", "alpha", "mid")
    assert d.group.tolist() == [0, 1, 0, 2, 1]
    np.testing.assert_array_equal(d.x, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(d.y, [2.5, 3.5, 4.0, 1e-3, -2.0])
    # Numeric labels are labels too (kept as text, first-appearance order).
    path2 = _write(tmp_path / "n.csv", ["i", "x", "y"], [[10, 0, 0], [2, 1, 1], [10, 2, 2]])
    d2 = from_csv(path2)
    assert d2.labels == ("10", "2") and d2.group.tolist() == [0, 1, 0]


@pytest.mark.parametrize("missing", ["x", "y", "i"])
def test_from_csv_missing_column_is_named(tmp_path, missing):
    header = [c for c in ["i", "x", "y"] if c != missing] + ["other"]
    path = _write(tmp_path / "d.csv", header, [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError, match=rf"'{missing}'"):
        from_csv(path)


@pytest.mark.parametrize("column, value", [("x", "abc"), ("y", "NA"), ("x", ""), ("y", "nan"), ("x", "inf")])
def test_from_csv_non_numeric_value_is_named(tmp_path, column, value):
    rows = [["a", "1.0", "2.0"], ["b", "3.0", "4.0"], ["a", "5.0", "6.0"]]
    rows[1][1 if column == "x" else 2] = value
    path = _write(tmp_path / "d.csv", ["i", "x", "y"], rows)
    with pytest.raises(ValueError, match=rf"'{column}'"):
        from_csv(path)


def test_from_csv_other_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        from_csv(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        from_csv(empty)
    header_only = _write(tmp_path / "h.csv", ["i", "x", "y"], [])
    with pytest.raises(ValueError, match="no data rows"):
        from_csv(header_only)
    blank_label = _write(tmp_path / "b.csv", ["i", "x", "y"], [["a", 1, 2], ["", 1, 2]])
    with pytest.raises(ValueError, match="label"):
        from_csv(blank_label)


_label = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(_label, min_size=1, max_size=8, unique=True), data=st.data())
def test_labels_round_trip_through_csv(tmp_path, labels, data):
    """Arbitrary text labels (quotes, commas, newlines, unicode) survive a CSV round trip."""
    codes = data.draw(st.lists(st.integers(0, len(labels) - 1), min_size=len(labels), max_size=30))
    codes = list(range(len(labels))) + codes  # every label appears, first in order
    perm = data.draw(st.permutations(range(len(codes))))
    codes = [codes[k] for k in perm]
    x = np.arange(len(codes), dtype=float) / 7
    y = -np.arange(len(codes), dtype=float) * 3.25
    path = _write(tmp_path / "labels.csv", ["g", "x", "y"],
                  [[labels[c], repr(float(xi)), repr(float(yi))] for c, xi, yi in zip(codes, x, y)])
    d = from_csv(path, x="x", y="y", group="g")
    order = list(dict.fromkeys(codes))  # first-appearance order
    assert d.labels == tuple(labels[c] for c in order)
    assert [d.labels[g] for g in d.group] == [labels[c] for c in codes]
    np.testing.assert_array_equal(d.x, x)
    np.testing.assert_array_equal(d.y, y)
    # ...and survive GroupedData itself.
    again = GroupedData(d.x, d.y, d.group, labels=list(d.labels))
    assert again.labels == d.labels


# --------------------------------------------------------------------------------------
# simulate()
# --------------------------------------------------------------------------------------


def test_simulate_shapes_and_determinism():
    data, truth = simulate(jax.random.key(1))
    assert data.num_obs == 375 and data.num_groups == 75 and data.group_sizes.tolist() == [5] * 75
    assert truth["alpha"].shape == truth["beta"].shape == (75,) and float(truth["sigma"]) == 2.0
    again, truth2 = simulate(jax.random.key(1))
    np.testing.assert_array_equal(data.y, again.y)
    np.testing.assert_array_equal(truth["alpha"], truth2["alpha"])
    other, _ = simulate(jax.random.key(2))
    assert not np.array_equal(data.y, other.y)
    small, t3 = simulate(jax.random.key(0), num_groups=4, group_size=3)
    assert small.num_obs == 12 and t3["beta"].shape == (4,)


def test_simulate_follows_the_model():
    """Every part of the generative model, checked against its known distribution."""
    G, n = 4_000, 6
    hyper = dict(mu_alpha=1.5, sigma_alpha=0.7, mu_beta=-3.0, sigma_beta=2.0, sigma=0.5)
    data, truth = simulate(jax.random.key(3), G, n, **hyper)
    alpha, beta = truth["alpha"].astype(np.float64), truth["beta"].astype(np.float64)

    def check_normal(values, mean, sd, what):
        m = len(values)
        assert abs(values.mean() - mean) < 4 * sd / np.sqrt(m), what
        # Var of the sample variance of normals: 2 sd^4 / (m - 1).
        assert abs(values.var(ddof=1) - sd**2) < 4 * sd**2 * np.sqrt(2 / (m - 1)), what

    check_normal(alpha, 1.5, 0.7, "alpha")
    check_normal(beta, -3.0, 2.0, "beta")
    check_normal(data.x, 0.0, 1.0, "x")
    # Given alpha and beta, the errors are N(0, sigma^2).
    resid = data.y - alpha[data.group] - beta[data.group] * data.x
    check_normal(resid, 0.0, 0.5, "residuals")
    # Per-group OLS slopes: (bhat_i - beta_i) / (sigma / sqrt(Sxx_i)) ~ N(0, 1).
    ols = ols_by_group(data)
    se_known = ols["se_beta"] / ols["sigma"] * 0.5
    check_normal((ols["beta"] - beta) / se_known, 0.0, 1.0, "standardised OLS slopes")
    # Pooled residual variance: RSS / sigma^2 ~ chi^2 with N - 2G degrees of freedom.
    df = ols["df"]
    assert abs(ols["sigma"] ** 2 * df / 0.25 - df) < 4 * np.sqrt(2 * df)
    # The residuals do not depend on the group's position in the data.
    assert abs(np.corrcoef(resid, data.group)[0, 1]) < 4 / np.sqrt(data.num_obs)


@pytest.mark.parametrize(
    "kwargs, error",
    [(dict(num_groups=0), ValueError), (dict(group_size=0), ValueError), (dict(num_groups=2.0), TypeError),
     (dict(sigma=0.0), ValueError), (dict(sigma_alpha=-1.0), ValueError), (dict(sigma_beta=float("nan")), ValueError)],
)
def test_simulate_validation(kwargs, error):
    with pytest.raises(error):
        simulate(jax.random.key(0), **kwargs)
    with pytest.raises(TypeError, match="key"):
        simulate(0)
