"""``jaxmh fit DATA FORMULA``: bad inputs (one clear line from the command, the same error from
``jaxmh.model``) and successful runs on tiny CSVs (in-process, small sizes)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import jaxmh
from jaxmh import cli
from jaxmh.priors import LKJ, Normal
from conftest import write_csv

PNG = b"\x89PNG\r\n\x1a\n"
QUICK = ["--samples", "50", "--warmup", "50", "--chains", "2", "--no-plots"]
LABELS = ("north", "south", "east")


def run(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def rows(seed=1, labels=LABELS, size=4):
    """``[g, x, y, f, gx, x2]`` rows: x varies within g; gx is constant within g; x2 = 2 x + 1; f is text."""
    rng = np.random.default_rng(seed)
    out = []
    for k, g in enumerate(labels):
        for j in range(size):
            x = float(j)
            y = 1.0 + 0.5 * k + (0.3 + 0.1 * k) * x + 0.2 * rng.normal()
            out.append([g, x, round(y, 4), f"t{j % 2}", float(k), 2 * x + 1])
    return out


HEADER = ["g", "x", "y", "f", "gx", "x2"]


@pytest.fixture
def csv(tmp_path):
    return write_csv(tmp_path / "data.csv", HEADER, rows())


def fails(capsys, argv, pattern, lines=1):
    """The command exits 2 with ``jaxmh fit: error: ...`` matching ``pattern``, no traceback, nothing on stdout."""
    code, out, err = run(capsys, ["fit", *argv])
    assert code == 2, (out, err)
    assert out == ""
    assert err.startswith("jaxmh fit: error: "), err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == lines, err
    assert re.search(pattern, err), err
    return err


# --------------------------------------------------------------------------------------
# bad inputs: the command and the API
# --------------------------------------------------------------------------------------


def test_unknown_column(csv, capsys):
    pattern = r"unknown column 'z' \(in term 'z'\); available columns: g, x, y, f, gx, x2"
    fails(capsys, [csv, "y ~ x + z + (1 | g)", *QUICK], pattern)
    fails(capsys, [csv, "y ~ x + (1 | site)", *QUICK], r"unknown column 'site' \(in the grouping factor of")
    fails(capsys, [csv, "--formula", "yy ~ x + (1 | g)", *QUICK], r"unknown column 'yy' \(the response\)")
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("y ~ x + z + (1 | g)", csv)


def test_syntax_error_shows_position_and_caret(csv, capsys):
    err = fails(capsys, [csv, "y ~ x + (1 | g", *QUICK], r"formula: expected '\)'.*position", lines=3)
    text, caret = err.splitlines()[1:]
    assert text.strip() == "y ~ x + (1 | g"
    assert caret.strip() == "^" and caret.index("^") == len(text)   # just past the end: the ')' is missing
    fails(capsys, [csv, "y ~ log(x) + (1 | g)", *QUICK], r"unknown function 'log'", lines=3)
    with pytest.raises(ValueError, match=r"(?s)expected '\)'.*position 14.*\^"):
        jaxmh.model("y ~ x + (1 | g", csv)


def test_grouping_factor_with_one_level(tmp_path, capsys):
    path = write_csv(tmp_path / "one.csv", HEADER, rows(labels=("north",)))
    pattern = r"grouping factor 'g' has only one level \('north'\).*at least two groups"
    fails(capsys, [path, "y ~ x + (1 | g)", *QUICK], pattern)
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("y ~ x + (1 | g)", path)


def test_factor_used_as_the_response(csv, capsys):
    pattern = r"the response 'f' is a factor \(text values\); it must be numeric"
    fails(capsys, [csv, "f ~ x + (1 | g)", *QUICK], pattern)
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("f ~ x + (1 | g)", csv)


def test_varying_slope_that_does_not_vary_within_groups(csv, capsys):
    pattern = r"varying slope of 'gx' by 'g' is not identified: gx does not vary within any level of g"
    fails(capsys, [csv, "y ~ x + (gx | g)", *QUICK], pattern)
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("y ~ x + (1 + gx | g)", csv)


def test_rank_deficient_fixed_effects_name_the_columns(csv, capsys):
    pattern = r"rank deficient: column 'x2' is a linear combination of 'Intercept', 'x'"
    fails(capsys, [csv, "y ~ x + x2 + (1 | g)", *QUICK], pattern)
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("y ~ x + x2 + (1 | g)", csv)


def test_missing_values_then_drop_missing(tmp_path, capsys):
    data = rows()
    data[2][2] = ""          # y of row 3
    data[5][1] = "NA"        # x of row 6
    path = write_csv(tmp_path / "missing.csv", HEADER, data)
    pattern = r"column 'y' has 1 missing value \(row 3\).*--drop-missing"
    fails(capsys, [path, "y ~ x + (1 | g)", *QUICK], pattern)
    with pytest.raises(ValueError, match=r"column 'y' has 1 missing value \(row 3\).*drop_missing=True"):
        jaxmh.model("y ~ x + (1 | g)", path)

    code, out, err = run(capsys, ["fit", path, "y ~ x + (1 | g)", "--drop-missing", *QUICK])
    assert code == 0, err
    assert re.search(r"^data: .*missing\.csv: 10 rows; g: 3 levels$", out, re.M), out
    assert re.search(r"^dropped 2 rows with missing values .*\(--drop-missing\)$", out, re.M), out
    m = jaxmh.model("y ~ x + (1 | g)", path, drop_missing=True)
    assert (m.layout.num_rows, m.layout.dropped) == (10, 2)
    assert jaxmh.model("y ~ x + (1 | g)", write_csv(tmp_path / "full.csv", HEADER, rows())).layout.dropped == 0


def test_prior_for_a_class_the_model_does_not_have(csv, capsys):
    pattern = r"a prior for class 'cor', but the model has no correlated varying effects"
    fails(capsys, [csv, "y ~ x + (1 | g)", "--prior", "cor=lkj(2)", *QUICK], pattern)
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("y ~ x + (1 | g)", csv, priors={"cor": LKJ(2.0)})
    # an unknown name lists what the model has
    pattern = r"no parameter or class 'sd\(x\|g\)'; it has classes Intercept, b, sd, sigma; .*sds sd\(Intercept\|g\)"
    fails(capsys, [csv, "y ~ x + (1 | g)", "--prior", "sd(x|g)=half_normal(1)", *QUICK], pattern)
    with pytest.raises(ValueError, match=pattern):
        jaxmh.model("y ~ x + (1 | g)", csv, priors={"sd(x|g)": jaxmh.priors.HalfNormal(1.0)})


@pytest.mark.parametrize("spec, pattern", [
    ("sigma", r"--prior 'sigma': expected NAME=PRIOR"),
    ("=normal(0,1)", r"--prior '=normal\(0,1\)': expected NAME=PRIOR"),
    ("sigma=half_normal(1", r"--prior sigma: cannot read the prior 'half_normal\(1'"),
    ("b=gaussian(0,1)", r"--prior b: cannot read the prior 'gaussian\(0,1\)': expected normal\(loc, scale\)"),
    ("b=normal(0)", r"--prior b: the prior 'normal\(0\)' needs 2 number\(s\), got 1"),
    ("b=normal(0,ten)", r"--prior b: the prior 'normal\(0,ten\)' has 'ten' where a number is expected"),
])
def test_malformed_prior(csv, capsys, spec, pattern):
    fails(capsys, [csv, "y ~ x + (1 | g)", "--prior", spec, *QUICK], pattern)


def test_malformed_prior_api(csv):
    with pytest.raises(ValueError, match=r"cannot read the prior 'half_normal\(1'"):
        jaxmh.priors.parse("half_normal(1")
    with pytest.raises(TypeError, match=r"priors\['sigma'\] must be a prior such as"):
        jaxmh.model("y ~ x + (1 | g)", csv, priors={"sigma": "half_normal(1)"})
    with pytest.raises(TypeError, match=r"priors must be a dict \{class or parameter: prior\}.*got list"):
        jaxmh.model("y ~ x + (1 | g)", csv, priors=["sigma"])


@pytest.mark.parametrize("spec, pattern", [
    ("sigma=normal(0,1)", r"--prior sigma=normal\(0,1\): sigma is a scale \(> 0\) and needs a prior on the "
                          r"positive half-line: half_normal\(scale\)"),
    ("sd=student_t(3,0,2.5)", r"--prior sd=student_t\(3,0,2.5\): sd is a scale \(> 0\)"),
    ("sd(Intercept|g)=uniform(-1,5)", r"sd\(Intercept\|g\) is a scale \(> 0\).*uniform\(low, high\) with low >= 0"),
    ("sigma=half_normal(-1)", r"--prior sigma: HalfNormal scale must be > 0, got -1"),
    ("cor=normal(0,1)", r"--prior cor=normal\(0,1\): cor is a correlation matrix and takes lkj\(eta\)"),
    ("b=lkj(2)", r"--prior b=lkj\(2\): lkj\(eta\) is the prior of a correlation matrix .*b takes a prior on a number"),
])
def test_bad_prior_value(csv, capsys, spec, pattern):
    fails(capsys, [csv, "y ~ x + (x | g)", "--prior", spec, *QUICK], pattern)


def test_bad_prior_value_api(csv):
    with pytest.raises(ValueError, match=r"priors\['sigma'\] is the prior of a scale \(> 0\).*got Normal"):
        jaxmh.model("y ~ x + (1 | g)", csv, priors={"sigma": Normal(0.0, 1.0)})
    with pytest.raises(ValueError, match=r"cor\(g\) needs an LKJ prior"):
        jaxmh.model("y ~ x + (x | g)", csv, priors={"cor": Normal(0.0, 1.0)})


def test_no_data_file(tmp_path, capsys):
    fails(capsys, [str(tmp_path / "nope.csv"), "y ~ x + (1 | g)", *QUICK],
          r"data file not found: .*nope\.csv \(bundled datasets: .*sleepstudy")
    fails(capsys, [str(tmp_path), "y ~ x + (1 | g)", *QUICK], r"is a directory, not a CSV file")


# --------------------------------------------------------------------------------------
# successful runs
# --------------------------------------------------------------------------------------


def test_fit_formula_prints_everything_and_writes_files(csv, tmp_path, capsys):
    out_dir = tmp_path / "tmp"
    npz = out_dir / "d.npz"
    code, out, err = run(capsys, ["fit", csv, "y ~ x + (x | g)", "--samples", "200", "--warmup", "200",
                                  "--chains", "2", "--out", str(out_dir), "--save", str(npz),
                                  "--prior", "b=normal(0,5)"])
    assert code == 0, err
    assert "Traceback" not in err
    head = out.splitlines()
    assert re.fullmatch(r"data: .*data\.csv: 12 rows; g: 3 levels", head[0]), head[0]
    assert head[1] == "formula: y ~ 1 + x + (1 + x | g)"
    assert head[2] == "family: gaussian (identity link)"
    assert head[3].startswith("priors: Intercept ~ normal(")
    assert "x ~ normal(0, 5) (given)" in head[3]           # set by its class, b
    assert "sd(Intercept|g) ~ exponential(" in head[3] and "cor(g) ~ lkj(1)" in head[3]
    assert "Intercept ~ normal(" in head[3] and "Intercept ~ normal(0, 5)" not in head[3]
    assert re.fullmatch(r"sampler: .*, 2 chains x \(200 warm-up \+ 200 steps\), seed 0", head[4]), head[4]
    names = [line.split()[0] for line in head if re.match(r"\s*\S+\s+-?\d+\.\d+\s", line)]
    assert names == ["Intercept", "x", "sd(Intercept|g)", "sd(x|g)", "cor(Intercept,x|g)", "sigma"] + \
        [f"{e}|g[{label}]" for e in ("Intercept", "x") for label in LABELS]
    assert "per g (deviations from the fixed effects" in out
    assert re.search(r"^(converged: all 12 parameters|! not converged: \d+ of 12 parameters)", out, re.M), out
    picture = out_dir / "caterpillar_g.png"
    assert f"wrote {picture}" in out and f"wrote {npz}" in out
    assert picture.read_bytes()[:8] == PNG
    with np.load(npz) as saved:
        assert saved["Intercept"].shape == saved["sigma"].shape == (2, 200)
        assert saved["cor(Intercept,x|g)"].shape == saved["sd(x|g)"].shape == (2, 200)
        assert saved["Intercept|g"].shape == saved["x|g"].shape == (2, 200, 3)
        assert list(saved["labels:Intercept|g"]) == list(LABELS) == list(saved["labels:x|g"])
        assert np.all(saved["sigma"] > 0) and np.all(np.abs(saved["cor(Intercept,x|g)"]) < 1)


def test_fit_formula_netcdf(csv, tmp_path, capsys):
    pytest.importorskip("arviz")
    path = tmp_path / "d.nc"
    code, out, err = run(capsys, ["fit", csv, "--formula", "y ~ x + (x | g)", *QUICK, "--netcdf", str(path)])
    assert code == 0, err
    assert f"wrote {path}" in out and os.path.getsize(path) > 0
    import arviz

    posterior = arviz.from_netcdf(str(path)).posterior
    assert {"Intercept", "x", "sd(x|g)", "cor(Intercept,x|g)", "sigma", "Intercept|g"} <= set(posterior.data_vars)


def test_crossed_factors_one_caterpillar_each(tmp_path, capsys):
    rng = np.random.default_rng(5)
    data = [[f"a{i}", f"b{j}", round(float(rng.normal(i - j, 0.3)), 4)]
            for _ in range(2) for i in range(3) for j in range(3)]
    path = write_csv(tmp_path / "crossed.csv", ["a", "b", "y"], data)
    out_dir = tmp_path / "figs"
    code, out, err = run(capsys, ["fit", path, "y ~ (1 | a) + (1 | b)", "--samples", "50", "--warmup", "50",
                                  "--chains", "2", "--out", str(out_dir)])
    assert code == 0, err
    assert re.search(r"^data: .*: 18 rows; a: 3 levels; b: 3 levels$", out, re.M), out
    assert "Intercept|a[a2]" in out and "Intercept|b[b0]" in out
    for name in ("a", "b"):
        assert (out_dir / f"caterpillar_{name}.png").read_bytes()[:8] == PNG
    assert sorted(os.listdir(out_dir)) == ["caterpillar_a.png", "caterpillar_b.png"]


def test_old_column_options_still_work(csv, capsys):
    code, out, err = run(capsys, ["fit", csv, "--y", "y", "--x", "x", "--group", "g", *QUICK])
    assert code == 0, err
    assert "12 rows, 3 groups (g)" in out
    assert "y ~ N(alpha[g] + beta[g] * x, sigma^2)" in out
    assert "alpha[north]" in out and "beta[east]" in out
