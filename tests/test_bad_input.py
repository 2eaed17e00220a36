"""Every bad input of issue 6 gives one clear error naming the column or argument: as an
exception from the Python API, and as one line on stderr with exit code 2 from ``jaxmh fit``."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

import jaxmh
from jaxmh import cli
from jaxmh.data import GroupedData, from_csv
from jaxmh.priors import HalfCauchy, HalfNormal, Normal, Uniform

Y, SIGMA = jaxmh.datasets.eight_schools()


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return str(path)


GOOD_ROWS = [["a", 0.0, 1.0], ["a", 1.0, 2.0], ["b", 0.0, 1.5], ["b", 1.0, 2.5]]


def files(tmp_path) -> dict:
    """One CSV per kind of bad input (columns g, x, y unless said otherwise)."""
    w = lambda name, rows, header=("g", "x", "y"): write_csv(tmp_path / name, header, rows)  # noqa: E731
    return {
        "good": w("good.csv", GOOD_ROWS),
        "missing column": w("no_y.csv", [r[:2] for r in GOOD_ROWS], header=("g", "x")),
        "non-numeric x": w("text_x.csv", GOOD_ROWS[:1] + [["a", "high", 2.0]] + GOOD_ROWS[2:]),
        "non-numeric y": w("text_y.csv", GOOD_ROWS[:3] + [["b", 1.0, "2,5"]]),
        "nan": w("nan.csv", GOOD_ROWS[:2] + [["b", 0.0, "nan"]] + GOOD_ROWS[3:]),
        "infinite": w("inf.csv", GOOD_ROWS[:3] + [["b", "-inf", 2.5]]),
        "group emptied by filtering": w("gap.csv", GOOD_ROWS + [["c", "", 1.0], ["c", 2.0, "NA"]]),
        "empty file": w("empty.csv", [], header=None),
        "header only": w("header.csv", []),
        "single group": w("one.csv", [["a", 0.0, 1.0], ["a", 1.0, 2.0], ["a", 2.0, 2.4]]),
        "mismatched lengths": w("ragged.csv", GOOD_ROWS[:2] + [["b", 0.0]] + GOOD_ROWS[3:]),
    }


# --------------------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------------------
CSV_CASES = {
    "missing column": (ValueError, r"\['y'\] not found"),
    "non-numeric x": (ValueError, r"column 'x' must be numeric; row 2 has 'high'"),
    "non-numeric y": (ValueError, r"column 'y' must be numeric; row 4 has '2,5'"),
    "nan": (ValueError, r"column 'y' has 1 missing or non-finite value\(s\), first at row 3"),
    "infinite": (ValueError, r"column 'x' has 1 missing or non-finite value\(s\), first at row 4"),
    "empty file": (ValueError, r"is empty: expected a header row"),
    "header only": (ValueError, r"has a header but no data rows"),
    "mismatched lengths": (ValueError, r"row 3 has 2 field\(s\) but the header has 3"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_api_csv_errors_name_the_column_or_row(tmp_path, case):
    error, message = CSV_CASES[case]
    with pytest.raises(error, match=message):
        from_csv(files(tmp_path)[case], x="x", y="y", group="g")


def test_api_group_with_no_rows_after_filtering(tmp_path):
    with pytest.raises(ValueError, match=r"group\(s\) \['c'\] of column 'g' have no rows left after dropping"):
        from_csv(files(tmp_path)["group emptied by filtering"], x="x", y="y", group="g", drop_missing=True)
    data = from_csv(files(tmp_path)["good"], x="x", y="y", group="g", drop_missing=True)
    assert data.num_obs == 4
    # the same mistake made with arrays: a group index that has no rows
    with pytest.raises(ValueError, match=r"groups \[1\] have no rows"):
        GroupedData(np.zeros(3), np.zeros(3), np.array([0, 0, 2]))


def test_api_nan_inf_and_non_numeric_arrays():
    with pytest.raises(ValueError, match=r"y has 1 non-finite value\(s\), first at row 1"):
        GroupedData(np.zeros(3), np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"x has 1 non-finite value\(s\), first at row 2"):
        GroupedData(np.array([0.0, 1.0, np.inf]), np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(TypeError, match="x must be numeric"):
        GroupedData(np.array(["a", "b", "c"]), np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="y has a non-finite value at index 2"):
        jaxmh.models.eight_schools(np.array([1.0, 2.0, np.nan]), np.ones(3))
    with pytest.raises(TypeError, match="sigma must be a 1-D array of numbers"):
        jaxmh.models.eight_schools(Y, ["ten"] * 8)


def test_api_mismatched_lengths():
    with pytest.raises(ValueError, match="x, y and group must have equal lengths, got 3, 2 and 3"):
        GroupedData(np.zeros(3), np.zeros(2), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="y and sigma must have equal lengths, got 8 and 7"):
        jaxmh.models.eight_schools(Y, SIGMA[:7])


def test_api_single_group():
    one = GroupedData(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 2.4]), np.zeros(3, int))
    with pytest.raises(ValueError, match="intercepts model needs at least 2 groups .* have 1"):
        jaxmh.models.intercepts(one)
    with pytest.raises(ValueError, match="eight_schools model needs at least 2 schools, got 1"):
        jaxmh.models.eight_schools(Y[:1], SIGMA[:1])
    jaxmh.models.pooled(one)                                           # a single group is fine when pooled


@pytest.mark.parametrize("make, message", [
    (lambda: Normal(0.0, 0.0), "Normal scale must be > 0, got 0.0"),
    (lambda: Normal(0.0, -1.0), "Normal scale must be > 0, got -1.0"),
    (lambda: HalfNormal(0.0), "HalfNormal scale must be > 0, got 0.0"),
    (lambda: HalfNormal(-2.0), "HalfNormal scale must be > 0, got -2.0"),
    (lambda: HalfCauchy(-5.0), "HalfCauchy scale must be > 0, got -5.0"),
    (lambda: Uniform(3.0, 3.0), "Uniform needs low < high, got low=3.0, high=3.0"),
    (lambda: Normal(0.0, float("nan")), "Normal scale must be finite"),
])
def test_api_zero_or_negative_prior_scales(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("build, name", [
    (lambda d, p: jaxmh.models.intercepts(d, prior_sigma=p), "prior_sigma"),
    (lambda d, p: jaxmh.models.intercepts(d, prior_mu_alpha=p), "prior_mu_alpha"),
    (lambda d, p: jaxmh.models.eight_schools(Y, SIGMA, prior_tau=p), "prior_tau"),
    (lambda d, p: jaxmh.models.eight_schools(Y, SIGMA, centered=True, prior_mu=p), "prior_mu"),
])
def test_api_a_prior_that_is_not_a_prior_names_the_argument(build, name):
    data, _ = jaxmh.datasets.tutorial()
    for bad in (1.0, "half-normal(1)", object()):  # (None means "the default prior")
        with pytest.raises(TypeError, match=f"{name} must be a prior"):
            build(data, bad)


@pytest.mark.parametrize("build, name", [
    (lambda d, p: jaxmh.models.intercepts(d, prior_sigma=p), "prior_sigma"),
    (lambda d, p: jaxmh.models.intercepts(d, prior_sigma_alpha=p), "prior_sigma_alpha"),
    (lambda d, p: jaxmh.models.eight_schools(Y, SIGMA, prior_tau=p), "prior_tau"),
])
def test_api_a_scale_prior_must_live_on_the_positive_half_line(build, name):
    data, _ = jaxmh.datasets.tutorial()
    for bad in (Normal(0.0, 1.0), Uniform(-1.0, 10.0)):
        with pytest.raises(ValueError, match=f"{name} is the prior of a scale"):
            build(data, bad)
    build(data, Uniform(0.0, 10.0))                                    # [0, 10] is fine


def test_api_eight_schools_sigma_must_be_positive():
    with pytest.raises(ValueError, match=r"sigma must be > 0 \(standard errors\), got 0.0 at index 3"):
        jaxmh.models.eight_schools(Y, np.where(np.arange(8) == 3, 0.0, SIGMA))


# --------------------------------------------------------------------------------------
# Command line: exit code 2, one line on stderr naming the problem, no traceback
# --------------------------------------------------------------------------------------
def run_fit(capsys, argv):
    code = cli.main(["fit", *argv, "--chains", "2", "--samples", "20", "--warmup", "0", "--no-plots"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *needles):
    assert code == 2, (out, err)
    assert err.startswith("jaxmh fit: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Traceback" not in err + out


COLUMNS = ["--x", "x", "--y", "y", "--group", "g"]
CLI_CASES = {
    "missing column": ([], ["'y'", "not found"]),
    "non-numeric x": ([], ["column 'x' must be numeric", "row 2", "'high'"]),
    "non-numeric y": ([], ["column 'y' must be numeric", "row 4"]),
    "nan": ([], ["column 'y'", "non-finite", "row 3"]),
    "infinite": ([], ["column 'x'", "non-finite", "row 4"]),
    "group emptied by filtering": (["--drop-missing"], ["['c']", "column 'g'", "no rows left"]),
    "empty file": ([], ["empty"]),
    "header only": ([], ["no data rows"]),
    "single group": ([], ["hierarchical model needs at least 2 groups", "column 'g' has only 1 ('a')"]),
    "mismatched lengths": ([], ["row 3 has 2 field(s) but the header has 3"]),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_data(tmp_path, capsys, case):
    extra, needles = CLI_CASES[case]
    path = files(tmp_path)[case]
    assert_one_line_error(*run_fit(capsys, [path, *COLUMNS, *extra]), *needles)


def test_cli_single_group_for_the_intercepts_model(tmp_path, capsys):
    path = files(tmp_path)["single group"]
    assert_one_line_error(*run_fit(capsys, [path, *COLUMNS, "--model", "intercepts"]),
                          "intercepts model needs at least 2 groups")


@pytest.mark.parametrize("prior, needles", [
    ("sigma=half-normal(0)", ["--prior sigma", "HalfNormal scale must be > 0, got 0.0"]),
    ("sigma_alpha=half-cauchy(-1)", ["--prior sigma_alpha", "HalfCauchy scale must be > 0, got -1.0"]),
    ("mu_alpha=normal(0,-10)", ["--prior mu_alpha", "Normal scale must be > 0, got -10.0"]),
    ("mu_beta=normal(0,0)", ["--prior mu_beta", "Normal scale must be > 0"]),
    ("sigma=normal(0,1)", ["--prior sigma is the prior of a scale"]),
    ("sigma=gamma(2,1)", ["--prior sigma", "cannot read the prior 'gamma(2,1)'"]),
    ("sigma=half-normal(1,2)", ["needs 1 number(s), got 2"]),
    ("tau=half-normal(1)", ["--prior tau", "has mu_alpha, mu_beta, sigma_alpha, sigma_beta, sigma"]),
    ("sigma", ["expected NAME=PRIOR"]),
])
def test_cli_bad_priors(tmp_path, capsys, prior, needles):
    path = files(tmp_path)["good"]
    assert_one_line_error(*run_fit(capsys, [path, *COLUMNS, "--prior", prior]), *needles)


def test_cli_prior_given_twice(tmp_path, capsys):
    path = files(tmp_path)["good"]
    assert_one_line_error(*run_fit(capsys, [path, *COLUMNS, "--prior", "sigma=half-normal(1)",
                                            "--prior", "sigma=half-normal(2)"]), "--prior sigma is given twice")


def test_cli_columns_must_be_named_for_a_csv(tmp_path, capsys):
    path = files(tmp_path)["good"]
    assert_one_line_error(*run_fit(capsys, [path, "--x", "x"]), "--y, --group", "['g', 'x', 'y']")


def test_cli_missing_file(tmp_path, capsys):
    assert_one_line_error(*run_fit(capsys, [str(tmp_path / "nope.csv"), *COLUMNS]), "nope.csv", "not found")
    assert_one_line_error(*run_fit(capsys, [str(tmp_path / "nope.csv")]), "nope.csv", "radon, reaction_times, tutorial")


def test_cli_netcdf_without_arviz(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)                    # makes `import arviz` fail
    path = files(tmp_path)["good"]
    assert_one_line_error(*run_fit(capsys, [path, *COLUMNS, "--netcdf", str(tmp_path / "d.nc")]),
                          "--netcdf needs ArviZ", "pip install arviz")
    assert not (tmp_path / "d.nc").exists()


def test_cli_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = files(tmp_path)["good"]
    assert_one_line_error(*run_fit(capsys, [path, *COLUMNS, "--save", str(blocker / "d.npz")]),
                          "cannot write", "d.npz")


@pytest.mark.parametrize("argv", [["fit"], ["fit", "radon", "--model", "bogus"], ["fit", "radon", "--samples", "0"]])
def test_cli_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: jaxmh fit" in err and "Traceback" not in err
