"""``jaxmh compare`` on real data (no truth: the models ranked by PSIS-LOO), ``jaxmh fit --ppc``, and the
LOO and posterior predictive figures (issue 15)."""

from __future__ import annotations


import jax
import numpy as np
import pytest

import jaxmh
from jaxmh import cli
from conftest import write_csv

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _grouped_csv(tmp_path, seed=0, groups=15, per=6):
    rng = np.random.default_rng(seed)
    rows = []
    a = 3.0 + 2.0 * rng.normal(size=groups)
    for g in range(groups):
        for _ in range(per):
            x = rng.normal()
            rows.append([f"clinic {chr(65 + g)}", round(x, 4), round(a[g] + 0.7 * x + 0.5 * rng.normal(), 4)])
    return write_csv(tmp_path / "clinics.csv", ["site", "dose", "score"], rows)


def test_compare_formulas_ranks_them_by_loo_and_writes_the_figure(tmp_path, capsys):
    path = _grouped_csv(tmp_path)
    out_png = tmp_path / "loo.png"
    code, out, err = run(capsys, ["compare", "--data", path, "score ~ dose", "score ~ dose + (1 | site)",
                                  "--samples", "400", "--warmup", "400", "--loo-out", str(out_png)])
    assert code == 0, err
    assert "leave-one-out (PSIS-LOO" in out
    lines = out[out.index("leave-one-out"):].splitlines()
    assert lines[1].split()[:3] == ["model", "elpd_loo", "se"] and "max R-hat" in lines[1]
    assert lines[2].startswith("score ~ dose + (1 | site)") and lines[2].rstrip().endswith("best")
    assert lines[3].startswith("score ~ dose ") and "worse" in lines[3]
    assert out_png.read_bytes()[:8] == PNG


def test_compare_tutorial_models_without_truth_ranks_by_loo(tmp_path, capsys):
    data, truth = jaxmh.data.simulate(jax.random.key(4), num_groups=20, group_size=5)
    rows = [[int(g), float(x), float(y)] for g, x, y in zip(data.group, data.x, data.y)]
    path = write_csv(tmp_path / "d.csv", ["i", "x", "y"], rows)
    code, out, err = run(capsys, ["compare", "--data", path, "--method", "blocked", "--samples", "1000",
                                  "--warmup", "1000", "--out", str(tmp_path / "shrink.png"),
                                  "--loo-out", str(tmp_path / "loo.png")])
    assert code == 0, err
    assert "no --truth given" in out and "leave-one-out (PSIS-LOO" in out
    table = out[out.index("leave-one-out"):].splitlines()
    assert "min ESS" in table[1] and "max R-hat" in table[1]      # the LOO table with each fit's convergence
    ranked = [ln.split()[0] for ln in table[2:5]]
    assert sorted(ranked) == ["hierarchical", "pooled", "unpooled"]
    assert ranked[-1] == "pooled"            # slopes and intercepts that vary by 1 sd: pooling all loses
    assert (tmp_path / "loo.png").read_bytes()[:8] == PNG
    assert (tmp_path / "shrink.png").read_bytes()[:8] == PNG


def test_compare_formula_mistakes_are_one_line(tmp_path, capsys):
    path = _grouped_csv(tmp_path)
    code, _, err = run(capsys, ["compare", "score ~ dose", "score ~ dose + (1 | site)"])
    assert code == 2 and "give --data" in err
    code, _, err = run(capsys, ["compare", "--data", path, "score ~ dose"])
    assert code == 2 and "at least two formulas" in err
    code, _, err = run(capsys, ["compare", "--data", path, "--family", "poisson"])
    assert code == 2 and "--family, --trials and --offset apply to formula models" in err
    code, _, err = run(capsys, ["compare", "--data", path, "score ~ dose", "score ~ nothing + (1 | site)"])
    assert code == 2 and "unknown column 'nothing'" in err


def test_fit_ppc_writes_the_figure(tmp_path, capsys):
    code, out, err = run(capsys, ["fit", "cbpp", "incidence ~ C(period) + (1 | herd)", "--family", "binomial",
                                  "--trials", "size", "--samples", "200", "--warmup", "200", "--no-plots",
                                  "--ppc", "--out", str(tmp_path)])
    assert code == 0, err
    assert (tmp_path / "ppc.png").read_bytes()[:8] == PNG
    code, _, err = run(capsys, ["fit", "radon", "--ppc", "--no-plots"])
    assert code == 2 and "--ppc applies to a model given by a formula" in err


@pytest.fixture(scope="module")
def two_fits():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(6), 5)
    cols = {"y": rng.poisson(np.exp(1 + 0.5 * rng.normal(size=6))[g]), "g": g}
    fits = {f: jaxmh.fit(jax.random.key(0), jaxmh.model(f, cols, family="poisson"), num_samples=200,
                         num_warmup=200, progress=False) for f in ("y ~ 1", "y ~ 1 + (1 | g)")}
    return cols, fits


def test_ppc_figure_shows_counts_as_bars_and_group_means(two_fits):
    cols, fits = two_fits
    fig = jaxmh.plots.ppc(fits["y ~ 1 + (1 | g)"], num_draws=50)
    left, right = fig.axes
    observed = [p.get_height() for p in left.patches]
    assert sum(observed) == len(cols["y"])                   # one bar per count value, every row counted
    assert "group means by g" in right.get_title()
    assert len(jaxmh.plots.ppc(fits["y ~ 1"]).axes) == 1      # no grouping factor: one panel
    with pytest.raises(ValueError, match="num_draws"):
        jaxmh.plots.ppc(fits["y ~ 1"], num_draws=0)


def test_loo_compare_figure_has_a_row_per_model(two_fits):
    _, fits = two_fits
    ranking = jaxmh.compare_models(fits, warn=False)
    fig = jaxmh.plots.loo_compare(ranking)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ticks = fig.axes[0].get_yticks()
    assert len(labels) == 2 and labels[int(np.argmax(ticks))].startswith(ranking.best)   # best at the top
    with pytest.raises(ValueError, match="compare_models"):
        jaxmh.plots.loo_compare(object())


def test_compare_formulas_on_a_messy_csv(tmp_path, capsys):
    """A missing value: the error names the column and the way out, and --drop-missing is that way."""
    path = _grouped_csv(tmp_path)
    lines = open(path).read().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ","                 # row 5's score missing
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    code, _, err = run(capsys, ["compare", "--data", path, "score ~ dose", "score ~ dose + (1 | site)"])
    assert code == 2 and "column 'score' has 1 missing value" in err and "--drop-missing" in err
    code, out, err = run(capsys, ["compare", "--data", path, "score ~ dose", "score ~ dose + (1 | site)",
                                  "--drop-missing", "--samples", "200", "--warmup", "200", "--no-plot"])
    assert code == 0, err
    assert "leave-one-out (PSIS-LOO" in out
