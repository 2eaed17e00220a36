"""The ``jaxmh compare`` command (in-process and as the installed console script) and the
tutorial example script, at small sizes."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest

import jaxmh
from jaxmh import cli, comparison
from conftest import write_csv

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
MODELS = ("pooled", "unpooled", "hierarchical")
COLUMN_TITLES = ("accept", "RMSE alpha", "RMSE beta", "min ESS", "max R-hat")


@pytest.fixture
def captured(monkeypatch):
    """Record the Comparison objects that ``jaxmh compare`` builds."""
    seen = []
    real = comparison.compare

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(comparison, "compare", spy)
    return seen


def table_rows(stdout: str) -> dict:
    """``{model: [numbers...]}`` from the printed table, and check its header."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    for title in COLUMN_TITLES:
        assert title in lines[header], title
    titles = re.split(r"\s{2,}", lines[header].strip())[1:]   # every truth parameter has an RMSE column
    wanted = ["accept", "RMSE alpha", "RMSE beta", "mean sigma", "min ESS", "max R-hat", "seconds"]
    rows = {}
    for line in lines[header + 2:]:
        fields = line.split()
        if fields and fields[0] in MODELS:
            values = dict(zip(titles, (float(v) for v in fields[1:len(titles) + 1])))
            rows[fields[0]] = [values[t] for t in wanted]
    return rows


def run(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------
# Successful runs
# --------------------------------------------------------------------------------------
def test_compare_simulated_data_prints_table_and_writes_figure(tmp_path, capsys, captured):
    out_png = tmp_path / "figs" / "s.png"                            # folder is created
    code, out, err = run(capsys, ["compare", "--samples", "200", "--warmup", "50",
                                  "--out", str(out_png)])
    assert code == 0, err
    rows = table_rows(out)
    assert list(rows) == list(MODELS)
    (result,) = captured
    for fit in result.fits:
        accept, rmse_a, rmse_b, _, min_ess, max_rhat, _ = rows[fit.model]
        assert 0 < accept < 1
        assert accept == pytest.approx(fit.acceptance_rate, abs=5e-4)
        assert rmse_a == pytest.approx(comparison.rmse(fit.alpha_mean, result.truth["alpha"]), abs=5e-4)
        assert rmse_b == pytest.approx(comparison.rmse(fit.beta_mean, result.truth["beta"]), abs=5e-4)
        assert min_ess == pytest.approx(fit.min_ess_bulk, abs=0.5)
        assert max_rhat == pytest.approx(fit.max_rhat, abs=5e-4)
        assert np.shape(fit.result.acceptance_rate) == (4,)             # default 4 chains
        assert np.shape(fit.result.draws["sigma"]) == (4, 200)
    assert result.data.num_groups == 75 and result.data.num_obs == 375
    assert out_png.exists() and out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out_png}" in out


def test_compare_bundled_tutorial_data(tmp_path, capsys, captured):
    code, out, err = run(capsys, ["compare", "--data", "tutorial", "--models", "hierarchical",
                                  "--chains", "2", "--samples", "100", "--warmup", "20",
                                  "--out", str(tmp_path / "t.png")])
    assert code == 0, err
    assert list(table_rows(out)) == ["hierarchical"]
    data, truth = jaxmh.datasets.tutorial()
    (result,) = captured
    assert result.data.num_obs == data.num_obs == 375
    np.testing.assert_array_equal(result.truth["alpha"], truth["alpha"])
    assert (tmp_path / "t.png").exists()


def _string_label_files(tmp_path):
    """6 groups with string labels, 6 rows each, rows interleaved; truth rows in another order."""
    rng = np.random.default_rng(5)
    labels = ["zoe", "amy", "kim", "bob", "eve", "ian"]
    alpha = dict(zip(labels, rng.normal(2, 1, size=6)))
    beta = dict(zip(labels, rng.normal(-2, 1, size=6)))
    rows = []
    for j in range(6):
        for g in labels:
            x = rng.normal()
            rows.append([g, j, x, alpha[g] + beta[g] * x + 0.5 * rng.normal()])
    data_csv = write_csv(tmp_path / "d.csv", ["person", "obs", "dose", "resp"], rows)
    truth_csv = write_csv(tmp_path / "truth.csv", ["person", "alpha", "beta"],
                          [[g, alpha[g], beta[g]] for g in sorted(labels)])
    return data_csv, truth_csv, labels, alpha, beta


def test_compare_csv_with_truth_and_string_labels(tmp_path, capsys, captured):
    data_csv, truth_csv, labels, alpha, beta = _string_label_files(tmp_path)
    code, out, err = run(capsys, [
        "compare", "--data", data_csv, "--truth", truth_csv, "--x", "dose", "--y", "resp",
        "--group", "person", "--chains", "2", "--samples", "150", "--warmup", "30",
        "--out", str(tmp_path / "c.png")])
    assert code == 0, err
    rows = table_rows(out)
    assert list(rows) == list(MODELS)
    (result,) = captured
    assert result.data.labels == tuple(labels)                      # order of first appearance
    assert result.data.num_groups == 6 and result.data.num_obs == 36
    # the truth was matched to the groups by label, not by row order
    np.testing.assert_array_equal(result.truth["alpha"], [alpha[g] for g in labels])
    np.testing.assert_array_equal(result.truth["beta"], [beta[g] for g in labels])
    for fit in result.fits:
        assert rows[fit.model][1] == pytest.approx(
            comparison.rmse(fit.alpha_mean, result.truth["alpha"]), abs=5e-4)
    assert (tmp_path / "c.png").exists()


def test_compare_csv_without_truth_has_no_rmse_and_no_figure(tmp_path, capsys):
    data_csv, _, _, _, _ = _string_label_files(tmp_path)
    out_png = tmp_path / "none.png"
    code, out, err = run(capsys, [
        "compare", "--data", data_csv, "--x", "dose", "--y", "resp", "--group", "person",
        "--models", "pooled", "--chains", "2", "--samples", "50", "--warmup", "10",
        "--out", str(out_png)])
    assert code == 0, err
    rmse_alpha, rmse_beta = table_rows(out)["pooled"][1:3]
    assert np.isnan(rmse_alpha) and np.isnan(rmse_beta)
    assert "no --truth given" in out
    assert not out_png.exists()


# --------------------------------------------------------------------------------------
# Errors: exit code 2, one line on stderr, no traceback
# --------------------------------------------------------------------------------------
def _error_cases(tmp_path):
    good = write_csv(tmp_path / "good.csv", ["i", "x", "y"], [[1, 0.5, 1.0], [1, 1.5, 2.0], [2, 0.1, 0.3]])
    no_y = write_csv(tmp_path / "no_y.csv", ["i", "x", "z"], [[1, 0.5, 1.0]])
    text = write_csv(tmp_path / "text.csv", ["i", "x", "y"], [[1, 0.5, 1.0], [1, "abc", 2.0]])
    empty_x = write_csv(tmp_path / "empty_x.csv", ["i", "x", "y"], [[1, 0.5, 1.0], [2, "", 2.0]])
    truth_short = write_csv(tmp_path / "truth_short.csv", ["i", "alpha", "beta"], [[1, 2.0, -2.0]])
    return {
        "missing file": (["--data", str(tmp_path / "nope.csv")], "nope.csv"),
        "missing column": (["--data", no_y], "'y'"),
        "missing column named by --x": (["--data", good, "--x", "dose"], "'dose'"),
        "non-numeric value": (["--data", text], "abc"),
        "empty value": (["--data", empty_x], "'x'"),
        "missing truth file": (["--data", good, "--truth", str(tmp_path / "t.csv")], "t.csv"),
        "truth lacks a group": (["--data", good, "--truth", truth_short], "2"),
    }


@pytest.mark.parametrize("case", ["missing file", "missing column", "missing column named by --x",
                                  "non-numeric value", "empty value", "missing truth file",
                                  "truth lacks a group"])
def test_bad_input_exits_2_with_one_line_message(tmp_path, capsys, case):
    extra, needle = _error_cases(tmp_path)[case]
    code, out, err = run(capsys, ["compare", *extra, "--samples", "10", "--warmup", "0", "--no-plot"])
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err       # exactly one line
    assert err.startswith("jaxmh compare: error: ")
    assert needle in err
    assert "Traceback" not in err and "Traceback" not in out


@pytest.mark.parametrize("argv", [["compare", "--samples", "0"], ["compare", "--chains", "x"],
                                  ["compare", "--models", "bogus"], []])
def test_bad_arguments_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: jaxmh" in err and "Traceback" not in err


def test_warmup_zero_is_allowed_by_the_parser():
    args = cli._parser().parse_args(["compare", "--warmup", "0"])
    assert args.warmup == 0


def test_negative_warmup_message_names_the_real_limit(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--warmup", "-1"])
    err = capsys.readouterr().err
    assert "--warmup" in err and ("-1" in err or ">= 0" in err)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_compare_with_three_samples(capsys):
    code, _, _ = run(capsys, ["compare", "--models", "pooled", "--chains", "2", "--groups", "3",
                              "--samples", "3", "--warmup", "0", "--no-plot"])
    assert code == 0


# --------------------------------------------------------------------------------------
# The installed console script and the tutorial example
# --------------------------------------------------------------------------------------
def test_console_script_is_installed(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "jaxmh")
    assert os.path.exists(script), f"no console script at {script}"
    proc = subprocess.run([script, "compare", "--samples", "100", "--warmup", "10", "--no-plot"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(table_rows(proc.stdout)) == list(MODELS)
    assert list(tmp_path.iterdir()) == []                           # --no-plot wrote nothing


def test_tutorial_example_runs_at_reduced_size(tmp_path, capsys):
    namespace = runpy.run_path(os.path.join(REPO_ROOT, "examples", "tutorial.py"),
                               run_name="tutorial_example")
    out_png = tmp_path / "t.png"
    result = namespace["main"](["--iterations", "600", "--warmup", "100", "--out", str(out_png)])
    assert isinstance(result, jaxmh.Comparison)
    fits = {fit.model: fit for fit in result.fits}
    assert set(fits) == {"unpooled", "hierarchical"}
    hier = fits["hierarchical"]
    assert np.isfinite(hier.rmse_alpha) and np.isfinite(hier.rmse_beta)
    assert hier.rmse_alpha == pytest.approx(comparison.rmse(hier.alpha_mean, result.truth["alpha"]))
    assert np.shape(hier.result.draws["alpha"]) == (4, 500, 75)     # iterations - warm-up kept
    assert out_png.exists() and out_png.stat().st_size > 0
    out = capsys.readouterr().out
    assert "RMSE alpha" in out
    assert "priors: the tutorial's" in out                               # it says which priors it uses


def test_compare_says_when_the_method_does_not_apply_to_a_model(capsys):
    code, out, _ = run(capsys, ["compare", "--models", "pooled", "--method", "gibbs", "--samples", "50",
                                "--warmup", "50", "--no-plot"])
    assert code == 0
    assert "(gibbs does not apply to every model; these ran with their default sampler: pooled: adaptive" in out
