"""Reading tables (jaxmh.columns) and design matrices from formulas (jaxmh.design)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxmh.columns import Columns, read_columns
from jaxmh.design import Design, FactorDesign, design, level_codes
from jaxmh.formula import parse


# ---------------------------------------------------------------------------------------------- columns

def test_csv_numeric_text_missing_quotes_and_bom(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes('\ufeffy, x ,name,g\n1.5,2,"Smith, J",308\n2.5, NA ,b,309\n,4,,308\n'.encode("utf-8"))
    cols = read_columns(path)
    assert isinstance(cols, Columns)
    assert cols.names == ("y", "x", "name", "g")
    assert cols.num_rows == 3
    assert cols.values["y"].dtype == np.float64
    np.testing.assert_array_equal(cols.values["x"], [2.0, np.nan, 4.0])
    assert cols.values["name"].tolist() == ["Smith, J", "b", ""]
    assert cols.missing == {"y": 1, "x": 1, "name": 1, "g": 0}
    assert read_columns(str(path)).names == cols.names
    dropped = read_columns(path, drop_missing=True)
    assert dropped.num_rows == 1 and dropped.values["name"].tolist() == ["Smith, J"]


def test_csv_errors(tmp_path):
    with pytest.raises(ValueError, match="nope.csv.*not found"):
        read_columns(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv.*empty"):
        read_columns(empty)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n4,5\n")
    with pytest.raises(ValueError, match="ragged.csv.*line 3 has 1 fields, the header has 2"):
        read_columns(ragged)
    dup = tmp_path / "dup.csv"
    dup.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(ValueError, match="duplicate column name 'a'"):
        read_columns(dup)


def test_dict_input_lists_arrays_and_errors():
    cols = read_columns({"y": [1, 2, None], "s": np.array(["u", "NA", "w"]), "z": [1.0, float("nan"), 3],
                         "b": np.array([True, False, True])})
    assert cols.values["y"].dtype == np.float64 and np.isnan(cols.values["y"][2])
    assert cols.values["s"].tolist() == ["u", "", "w"]
    assert cols.missing == {"y": 1, "s": 1, "z": 1, "b": 0}
    assert cols.values["b"].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="unequal length.*'a' has 2.*'b' has 3"):
        read_columns({"a": [1, 2], "b": [1, 2, 3]})


def test_pandas_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "a", "b"], "x": [1, 2, 3, 5]})
    d = design("y ~ x + (1 | g)", df)
    np.testing.assert_array_equal(d.X[:, 1], [1, 2, 3, 5])
    assert d.factors[0].labels == ("a", "b")
    cols = read_columns(pd.DataFrame({"a": [1.0, None], "s": ["u", None]}))
    assert cols.missing == {"a": 1, "s": 1}


# ---------------------------------------------------------------------------------------------- design

def _data():
    return {
        "y": [1.0, 2.0, 3.5, 4.0, 5.5, 6.0, 7.0, 8.5],
        "x": [0.5, 1.0, 2.0, 3.0, 1.5, 2.5, 4.0, 0.0],
        "p": ["1", "2", "3", "1", "2", "3", "1", "3"],
        "a": ["u", "v", "u", "v", "v", "u", "v", "u"],
        "g": [308, 308, 309, 309, 310, 310, 311, 311],
        "h": ["k", "k", "k", "k", "m", "m", "m", "m"],
    }


def test_numeric_and_treatment_coding():
    data = _data()
    d = design("y ~ x + p", data)
    assert isinstance(d, Design)
    assert d.fixed_names == ("Intercept", "x", "p[2]", "p[3]")
    p = np.array(data["p"])
    expected = np.column_stack([np.ones(8), data["x"], p == "2", p == "3"]).astype(float)
    np.testing.assert_array_equal(d.X, expected)
    np.testing.assert_array_equal(d.y, data["y"])
    assert d.y.dtype == np.float64 and d.X.dtype == np.float64
    assert d.num_rows == 8 and d.dropped == 0 and d.response == "y" and d.factors == ()
    assert d.formula == parse("y ~ x + p")
    mean, sd = d.column_stats["x"]
    assert mean == pytest.approx(np.mean(data["x"])) and sd == pytest.approx(np.std(data["x"], ddof=1))
    assert d.column_stats["Intercept"] == (1.0, 0.0)


def test_baseline_is_first_level_in_order_of_appearance():
    d = design("y ~ p", {"y": [1.0, 2, 3, 4], "p": ["z", "b", "a", "b"]})
    assert d.fixed_names == ("Intercept", "p[b]", "p[a]")


def test_interactions():
    data = _data()
    d = design("y ~ x*a", data)
    a_v = (np.array(data["a"]) == "v").astype(float)
    x = np.array(data["x"])
    assert d.fixed_names == ("Intercept", "x", "a[v]", "x:a[v]")
    np.testing.assert_array_equal(d.X, np.column_stack([np.ones(8), x, a_v, x * a_v]))
    d2 = design("y ~ x + x:p", data)
    assert d2.fixed_names == ("Intercept", "x", "x:p[2]", "x:p[3]")
    d3 = design("y ~ x + C(g):x", {**data, "x": [0.5, 1.0, 2.0, 3.0, 1.5, 2.5, 4.0, 0.0]})
    assert d3.fixed_names == ("Intercept", "x", "g[309]:x", "g[310]:x", "g[311]:x")
    num = {"y": data["y"], "u": np.arange(8.0), "w": np.array([1.0, 3, 2, 5, 4, 7, 8, 6])}
    d4 = design("y ~ u*w", num)
    assert d4.fixed_names == ("Intercept", "u", "w", "u:w")
    np.testing.assert_array_equal(d4.X[:, 3], num["u"] * num["w"])


def test_full_dummy_coding_without_intercept():
    data = _data()
    p = np.array(data["p"])
    d = design("y ~ 0 + p + x", data)
    assert d.fixed_names == ("p[1]", "p[2]", "p[3]", "x")
    np.testing.assert_array_equal(d.X[:, :3], np.column_stack([p == "1", p == "2", p == "3"]).astype(float))
    d2 = design("y ~ 0 + x + p", data)   # as in R: the first categorical main effect gets full coding
    assert d2.fixed_names == ("x", "p[1]", "p[2]", "p[3]")
    d3 = design("y ~ p - 1 + a", data)
    assert d3.fixed_names == ("p[1]", "p[2]", "p[3]", "a[v]")


def test_C_on_a_numeric_column():
    d = design("y ~ C(g)", _data())
    assert d.fixed_names == ("Intercept", "g[309]", "g[310]", "g[311]")


def test_factor_design_intercept_and_slope():
    data = _data()
    d = design("y ~ x + (1 + x | g)", data)
    (fd,) = d.factors
    assert isinstance(fd, FactorDesign)
    assert fd.name == "g" and fd.labels == ("308", "309", "310", "311")
    assert fd.index.dtype == np.int32
    np.testing.assert_array_equal(fd.index, [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(fd.Z, np.column_stack([np.ones(8), data["x"]]))
    assert fd.term_names == ("Intercept", "x") and fd.correlated


def test_labels_in_order_of_appearance_and_float_formatting():
    codes, labels = level_codes(np.array([3.0, 1.0, 3.0, 2.5, 1.0]))
    assert labels == ("3", "1", "2.5")
    np.testing.assert_array_equal(codes, [0, 1, 0, 2, 1])
    codes, labels = level_codes(np.array(["b", "a", "b", "c"]))
    assert labels == ("b", "a", "c")


def test_uncorrelated_gives_one_factor_per_column():
    d = design("y ~ x + (x || g)", _data())
    assert [(f.name, f.term_names, f.correlated, f.Z.shape) for f in d.factors] == [
        ("g", ("Intercept",), False, (8, 1)), ("g", ("x",), False, (8, 1))]
    d2 = design("y ~ x + (1 | g) + (0 + x | g)", _data())
    assert [(f.term_names, f.correlated) for f in d2.factors] == [(("Intercept",), True), (("x",), True)]


def test_categorical_in_bar_term():
    data = _data()
    d = design("y ~ 1 + (1 + a | h)", data)
    (fd,) = d.factors
    assert fd.term_names == ("Intercept", "a[v]")
    np.testing.assert_array_equal(fd.Z[:, 1], (np.array(data["a"]) == "v").astype(float))
    d2 = design("y ~ 1 + (0 + a | h)", data)
    assert d2.factors[0].term_names == ("a[u]", "a[v]")


def test_interaction_and_nested_grouping_factors():
    data = {"y": np.arange(6.0), "s": ["A", "A", "B", "B", "A", "B"], "b": [1, 2, 1, 2, 1, 1]}
    d = design("y ~ 1 + (1 | s:b)", data)
    (fd,) = d.factors
    assert fd.name == "s:b" and fd.labels == ("A:1", "A:2", "B:1", "B:2")
    np.testing.assert_array_equal(fd.index, [0, 1, 2, 3, 0, 2])
    d2 = design("y ~ 1 + (1 | s/b)", data)
    assert [f.name for f in d2.factors] == ["s", "s:b"]
    assert d2.factors[0].labels == ("A", "B") and d2.factors[1].labels == fd.labels


def test_csv_input_to_design(tmp_path):
    path = tmp_path / "sleep.csv"
    path.write_text("Reaction,Days,Subject\n250.1,0,308\n260.2,1,308\n240.3,0,309\n270.4,1,309\n")
    d = design("Reaction ~ Days + (Days | Subject)", path)
    assert d.factors[0].labels == ("308", "309")
    np.testing.assert_array_equal(d.y, [250.1, 260.2, 240.3, 270.4])
    assert design("Reaction ~ Days", read_columns(path)).fixed_names == ("Intercept", "Days")


def test_missing_values_error_and_drop():
    data = _data()
    data["x"] = [0.5, None, 2.0, 3.0, float("nan"), 2.5, 4.0, 0.0]
    data["unused"] = [None] * 8
    with pytest.raises(ValueError, match=r"column 'x' has 2 missing values \(rows 2, 5\); drop those rows with "
                                         r"drop_missing=True \(--drop-missing on the command line\)"):
        design("y ~ x + (1 | g)", data)
    d = design("y ~ x + (1 | g)", data, drop_missing=True)
    assert d.num_rows == 6 and d.dropped == 2 and d.X.shape == (6, 2) and d.factors[0].index.shape == (6,)
    np.testing.assert_array_equal(d.y, [1.0, 3.5, 4.0, 6.0, 7.0, 8.5])
    assert design("y ~ a", data).num_rows == 8          # missing only in unused columns: fine
    text_missing = {**_data(), "a": ["u", "", "u", "NA", "v", "u", "v", "u"]}
    with pytest.raises(ValueError, match=r"column 'a' has 2 missing values \(rows 2, 4\)"):
        design("y ~ a", text_missing)


def test_unknown_column():
    with pytest.raises(ValueError, match=r"unknown column 'z' \(in term 'x:z'\); available columns: y, x, p, a"):
        design("y ~ x:z", _data())
    with pytest.raises(ValueError, match=r"unknown column 'resp' \(the response\)"):
        design("resp ~ x", _data())
    with pytest.raises(ValueError, match=r"unknown column 'q' \(in the grouping factor of \(1 \| q\)\)"):
        design("y ~ x + (1 | q)", _data())


def test_text_response():
    with pytest.raises(ValueError, match=r"the response 'a' is a factor \(text values\); it must be numeric"):
        design("a ~ x", _data())


def test_grouping_factor_with_one_level():
    data = {**_data(), "one": ["k"] * 8}
    with pytest.raises(ValueError, match=r"grouping factor 'one' has only one level \('k'\)"):
        design("y ~ x + (1 | one)", data)


def test_slope_that_does_not_vary_within_groups():
    data = {**_data(), "hx": [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]}
    with pytest.raises(ValueError, match=r"the varying slope of 'hx' by 'h' is not identified: hx does not vary "
                                         r"within any level of h; drop it from the bar term"):
        design("y ~ hx + (hx | h)", data)
    with pytest.raises(ValueError, match="varying slope of 'hx' by 'h'"):
        design("y ~ hx + (hx || h)", data)
    assert design("y ~ hx + (0 + hx | h)", data).factors[0].term_names == ("hx",)   # one column: a scaled intercept


def test_rank_deficient_fixed_effects():
    data = {**_data(), "c": 2 * np.array(_data()["x"]) + 3.0, "k": [5.0] * 8}
    with pytest.raises(ValueError, match=r"the fixed effects are rank deficient: column 'c' is a linear "
                                         r"combination of 'Intercept', 'x'"):
        design("y ~ x + c", data)
    with pytest.raises(ValueError, match=r"rank deficient: column 'k' is a linear combination of 'Intercept'"):
        design("y ~ x + k", data)
    with pytest.raises(ValueError, match=r"rank deficient: column 'p\[1\]:a\[v\]'|rank deficient"):
        design("y ~ p:a", data)
    # an interaction with an unobserved combination: all zeros
    sparse = {"y": np.arange(6.0), "a": ["u", "v", "u", "v", "u", "u"], "b": ["s", "s", "t", "s", "t", "s"]}
    with pytest.raises(ValueError, match=r"rank deficient: column 'a\[v\]:b\[t\]' is all zeros"):
        design("y ~ a*b", sparse)


def test_duplicate_bar_terms():
    with pytest.raises(ValueError, match="duplicate bar term"):
        design("y ~ x + (1 | g) + (1 | g)", _data())
    with pytest.raises(ValueError, match=r"duplicate bar term: the varying 'Intercept' by 'g'"):
        design("y ~ x + (1 | g) + (1 + x | g)", _data())


def test_infinite_values():
    data = {**_data(), "x": [0.5, np.inf, 2.0, 3.0, 1.5, 2.5, 4.0, 0.0]}
    with pytest.raises(ValueError, match=r"column 'x' has 1 infinite value \(row 2"):
        design("y ~ x", data)


def test_formula_string_or_object():
    f = parse("y ~ x")
    assert design(f, _data()).fixed_names == design("y ~ x", _data()).fixed_names
    with pytest.raises(TypeError):
        design(3, _data())


def test_many_levels_no_dense_level_matrix():
    n, levels = 100_000, 3_000
    rng = np.random.default_rng(0)
    g = rng.integers(0, levels, size=n)
    x = rng.normal(size=n)
    data = {"y": rng.normal(size=n), "x": x, "g": g}
    d = design("y ~ x + (1 + x | g)", data)
    (fd,) = d.factors
    assert fd.Z.shape == (n, 2) and d.X.shape == (n, 2) and fd.index.shape == (n,)
    assert len(fd.labels) == levels and fd.index.max() == levels - 1
    big = [a.nbytes for a in (d.X, d.y, fd.Z, fd.index)]
    assert max(big) < n * levels  # nothing rows x levels
    # level order: first appearance
    assert fd.labels[0] == str(g[0]) and fd.labels[fd.index[-1]] == str(g[-1])


def test_ragged_line_number_counts_quoted_newlines_and_blank_lines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a,b\n"multi\nline",2\n\n1,2,3\n')
    with pytest.raises(ValueError, match="line 5 has 3 fields"):
        read_columns(path)
