"""What a new user meets first (issue 11): the priors each command uses, honest warnings
instead of "run longer", quoting in the help, and the compilation cache's location."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import jax
import pytest

import jaxmh
from jaxmh import cli
from conftest import REPO_ROOT, write_csv


def run(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def reaction_csv(tmp_path) -> str:
    """Reaction times around 300 ms: 18 subjects x 10 days, subject labels as strings."""
    data, _ = jaxmh.data.simulate(jax.random.key(5), 18, 10, mu_alpha=250.0, sigma_alpha=25.0,
                                  mu_beta=10.0, sigma_beta=6.0, sigma=25.0)
    rows = [[f"S{300 + g}", x, y] for g, x, y in zip(data.group, data.x, data.y)]
    return write_csv(tmp_path / "reaction.csv", ["Subject", "Days", "Reaction"], rows)


FIT = ["--y", "Reaction", "--x", "Days", "--group", "Subject", "--no-plots"]


def test_fit_prints_the_data_scaled_priors_and_converges(tmp_path, capsys):
    path = reaction_csv(tmp_path)
    code, out, err = run(capsys, ["fit", path, *FIT])          # the defaults: 4 x 20,000 draws
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("priors"))
    assert "data-scaled defaults" in line and "mu_alpha ~ normal(" in line and "sigma ~ exponential(" in line
    data = jaxmh.data.from_csv(path, x="Days", y="Reaction", group="Subject")
    assert str(jaxmh.models.hierarchical(data).priors["mu_alpha"]) in line
    assert "!" not in out                                   # no conflict, no bound, converged
    assert "converged: all 41 parameters" in out


def test_fit_with_the_tutorials_priors_says_why_it_fails(tmp_path, capsys):
    path = reaction_csv(tmp_path)
    code, out, err = run(capsys, ["fit", path, *FIT, "--priors", "tutorial", "--samples", "2000",
                                  "--warmup", "1000"])
    assert code == 0, err
    lines = out.splitlines()
    conflict = next(x for x in lines if x.startswith("! prior-data conflict"))
    assert "mu_alpha" in conflict and "normal(0, 3)" in conflict
    assert lines.index(conflict) < next(i for i, x in enumerate(lines) if x.startswith("sampler"))
    bound = next(x for x in lines if x.startswith("! prior bound"))
    assert re.search(r"\bsigma reaches 10, the upper bound of its prior uniform\(0, 10\)", bound)
    assert "--prior NAME=PRIOR" in bound
    assert "Run longer" not in out and "running longer will not help" in out


def test_prior_options_are_quoted_for_the_shell(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    text = re.sub(r"\s+", "", capsys.readouterr().out)         # argparse wraps lines, even at hyphens
    assert "--prior'sigma=half-normal(1)'" in text
    with open(os.path.join(REPO_ROOT, "README.md")) as handle:
        readme = handle.read()
    # every --prior NAME=PRIOR(...) in the README is quoted (bash reads bare parentheses)
    assert not re.findall(r"--prior [A-Za-z_]+=[A-Za-z-]+\(", readme)
    assert "--prior 'sigma=half-normal(1)'" in readme


def test_compare_says_which_priors(tmp_path, capsys):
    code, out, _ = run(capsys, ["compare", "--models", "pooled", "--samples", "50", "--warmup", "10",
                                "--no-plot"])
    assert code == 0
    assert "priors: the tutorial's: mu_alpha, mu_beta ~ normal(0, 3)" in out
    assert "--method blocked tunes the sampler to the data" in out    # 60 steps: not converged
    path = reaction_csv(tmp_path)
    code, out, _ = run(capsys, ["compare", "--data", path, "--x", "Days", "--y", "Reaction", "--group",
                                "Subject", "--models", "pooled", "hierarchical", "--method", "blocked",
                                "--samples", "50", "--warmup", "50", "--no-plot"])
    assert code == 0
    assert "priors: data-scaled defaults" in out and "hierarchical: mu_alpha ~ normal(" in out
    assert "! prior-data conflict" not in out
    code, out, _ = run(capsys, ["compare", "--data", path, "--x", "Days", "--y", "Reaction", "--group",
                                "Subject", "--models", "pooled", "--priors", "tutorial",
                                "--samples", "50", "--warmup", "10"])
    assert "! prior-data conflict" in out


def test_study_says_which_sampler_and_priors(capsys):
    code, out, _ = run(capsys, ["study", "--datasets", "2", "--batch", "2", "--samples", "50", "--warmup",
                                "50", "--models", "pooled", "hierarchical", "--no-plot"])
    assert code == 0
    assert "priors: the tutorial's" in out
    assert ("sampler: pooled: adaptive random-walk Metropolis; hierarchical: group-blocked "
            "Metropolis-within-Gibbs") in out
    code, out, _ = run(capsys, ["study", "--datasets", "2", "--batch", "2", "--samples", "50", "--warmup",
                                "50", "--models", "pooled", "--method", "rwm", "--no-plot"])
    assert "sampler: random-walk Metropolis (the tutorial's) for every model" in out


def _command(args, cwd, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("JAXMH_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR")}
    full.update(env)
    script = "import sys; from jaxmh.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=600)


def test_the_command_caches_compilations_in_the_users_cache_folder_only(tmp_path):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    args = ["compare", "--models", "pooled", "--samples", "20", "--warmup", "10", "--no-plot"]
    proc = _command(args, work, XDG_CACHE_HOME=str(cache), HOME=str(tmp_path / "home"))
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(work) == []                                  # nothing under the working directory
    files = [f for _, _, fs in os.walk(cache / "jaxmh" / "jax") for f in fs]
    assert files, "no compiled program was cached"
    moved = tmp_path / "elsewhere"
    proc = _command(args, work, JAXMH_CACHE_DIR=str(moved), XDG_CACHE_HOME=str(tmp_path / "unused"))
    assert proc.returncode == 0 and os.listdir(moved) and not (tmp_path / "unused" / "jaxmh").exists()
    proc = _command(args, work, JAXMH_CACHE_DIR="off", XDG_CACHE_HOME=str(tmp_path / "off"))
    assert proc.returncode == 0 and not (tmp_path / "off" / "jaxmh").exists() and os.listdir(work) == []


def test_the_bundled_reaction_times_are_what_their_script_makes(tmp_path):
    import runpy

    script = runpy.run_path(os.path.join(REPO_ROOT, "examples", "make_reaction_times.py"))
    script["main"](str(tmp_path / "made.csv"))
    with open(tmp_path / "made.csv", "rb") as made:
        path = jaxmh.datasets.save_csv("reaction_times", tmp_path / "shipped.csv")
        with open(path, "rb") as shipped:
            assert made.read() == shipped.read()
