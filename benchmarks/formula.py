"""Formula models: jaxmh's default sampler against NumPyro NUTS (centred and non-centred), per second.

For the three Gaussian models of ``benchmarks/formula_reference.py``
(sleepstudy ``Reaction ~ Days + (Days | Subject)``, penicillin
``diameter ~ 1 + (1 | plate) + (1 | sample)``, and the simulated
``y ~ x * f + (1 | g)``; the default ``--models``) and the three non-Gaussian
ones of ``benchmarks/families_reference.py`` (``cbpp``: binomial,
``incidence ~ C(period) + (1 | herd)``, ``trials="size"``; ``grouseticks``:
Poisson, ``TICKS ~ C(YEAR) + cHEIGHT + (1 | BROOD) + (1 | LOCATION)``;
``bernoulli``: ``y ~ x + (1 | respondent) + (1 | item)`` on the simulated
100 respondents x 30 items of ``tests/data/families_bernoulli.csv``), each
model built by its reference script, in one process:

* ``jaxmh.fit(key, m, num_samples=N, num_warmup=1000)`` (default method, 4 chains);
* NumPyro NUTS on the same posterior (``formula_reference.numpyro_model``),
  centred and non-centred, 4 chains vmapped (as ``chain_method="vectorized"``),
  1,000 warm-up + 1,000 draws, NumPyro's defaults: ``target_accept_prob`` 0.8
  and initial values uniform on (-2, 2) unconstrained (``init_to_uniform``),
  for every model (:data:`NUTS_OPTIONS` would record a model run otherwise;
  it is empty); run via NumPyro's ``hmc(potential_fn, algo="NUTS")`` kernel in
  one jitted function (:func:`nuts_runner`), because ``MCMC.run`` compiles
  again on every call.  The families' likelihoods are
  ``formula_reference.numpyro_model``'s (binomial/Bernoulli logit, Poisson
  log).

Each sampler is run once to compile, then a second run with another key is
timed (warm-up + sampling, compilation excluded); with ``--repeats R``, R
runs with keys of their own are timed and the table gives the medians (each
run's min ESS per second, then the median of those), which matters on a
shared machine where one run's time can be off by half; ``--min-seconds S``
times further runs until they add up to S seconds (a model sampled in 0.3 s
needs a dozen runs for a stable median).  The table gives the
minimum bulk ESS over every parameter (jaxmh's names, every level of every
group-level effect, the correlations; ``jaxmh.diagnostics.ess_bulk``, ArviZ's
definition), the largest R-hat (a chain stuck away from the others shows
here), the seconds, the minimum ESS per second, NUTS's divergences, and
jaxmh's ESS/s over the best NUTS variant's.  If a sampler's minimum ESS is below 100 its draws are
doubled (and it is compiled and timed again) until it is not, so that each
ESS estimate is meaningful.

Then, for jaxmh:

* **CSV to summary**: in a fresh Python subprocess, the wall time from
  ``import jaxmh`` through ``jaxmh.model(formula, csv_path, family=...,
  trials=...)`` (the families' arguments; ``trials="size"`` for cbpp),
  ``fit`` and ``summary`` until the summary is converged (every R-hat < 1.01,
  every bulk ESS >= 400; draws doubled from 1,000 until it is), compilation
  included; the CSV is the bundled dataset written by
  ``jaxmh.datasets.save_csv``, or the simulated models' own file in
  ``tests/data``;
* **large**: 100,000 rows, ``y ~ x + (1 | g1) + (1 | g2)`` with crossed
  factors of 3,000 and 1,000 levels (simulated): in a fresh subprocess, the
  time until the minimum bulk ESS is >= 400 (draws doubled from 1,000;
  compilation and every attempt included) and the peak RSS
  (``resource.getrusage``).

The dtype is JAX's default (float32) unless ``--x64``.

Usage: ``python benchmarks/formula.py [--quick] [--x64] [--json PATH]
[--models sleepstudy,penicillin,categorical,cbpp,grouseticks,bernoulli]
[--no-large]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MIN_ESS = 100          # each sampler's minimum bulk ESS must reach this for the ESS/s figure
TARGET_ESS = 400       # "converged": every bulk ESS >= 400 and every R-hat < 1.01

GAUSSIAN = ("sleepstudy", "penicillin", "categorical")    # formula_reference.MODELS
FAMILIES = ("cbpp", "grouseticks", "bernoulli")           # families_reference.MODELS

#: NUTS settings per model other than NumPyro's defaults (``target_accept_prob`` 0.8, ``init_to_uniform``),
#: as keyword arguments of :func:`time_nuts` (``target_accept``, ``init``); see the module docstring.
NUTS_OPTIONS: dict = {}


def model_spec(name: str) -> tuple[str, dict]:
    """``(formula, keyword arguments of jaxmh.model)`` of model ``name`` (family and trials; none if Gaussian)."""
    if name in GAUSSIAN:
        import formula_reference as ref
        return ref.MODELS[name][0], {}
    if name in FAMILIES:
        import families_reference as fam
        return fam.MODELS[name][0], dict(fam.MODELS[name][2])
    raise ValueError(f"unknown model {name!r}; known: {', '.join(GAUSSIAN + FAMILIES)}")


def build_model(name: str):
    """The jaxmh model ``name``, built by its reference script (the simulated ones read from their CSV)."""
    model_spec(name)
    if name in GAUSSIAN:
        import formula_reference as ref
        if name == "categorical" and not os.path.exists(ref.CATEGORICAL_CSV):
            ref.write_categorical_csv()
        return ref.build(name)
    import families_reference as fam
    if name == "bernoulli" and not os.path.exists(fam.BERNOULLI_CSV):
        fam.write_bernoulli_csv()
    return fam.build(name)


def csv_of(name: str, folder: str) -> str:
    """A CSV file of model ``name``'s data: the simulated ones' own files, the bundled ones saved to ``folder``."""
    import jaxmh
    if name == "categorical":
        import formula_reference as ref
        return ref.CATEGORICAL_CSV
    if name == "bernoulli":
        import families_reference as fam
        return fam.BERNOULLI_CSV
    return jaxmh.datasets.save_csv(name, os.path.join(folder, f"{name}.csv"))


def _args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few draws, small large case")
    parser.add_argument("--x64", action="store_true", help="float64 (default: JAX's float32)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--models", default=",".join(GAUSSIAN),
                        help=f"comma-separated, of {', '.join(GAUSSIAN + FAMILIES)} (default: the Gaussian ones)")
    parser.add_argument("--no-large", action="store_true", help="skip the 100,000-row case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed runs per sampler after the compiling one, each with a new key; the table "
                             "gives the medians (default 1)")
    parser.add_argument("--min-seconds", type=float, default=0.0,
                        help="time more runs (new keys) until the timed runs add up to this many seconds, so "
                             "that a model sampled in a fraction of a second gets a stable median (default 0)")
    parser.add_argument("--csv-repeats", type=int, default=1,
                        help="fresh processes per CSV-to-summary case; the table gives the median (default 1)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# In-process ESS/s comparison
# ---------------------------------------------------------------------------
def min_ess(draws: dict) -> float:
    from jaxmh import diagnostics
    import numpy as np
    return float(min(np.min(diagnostics.ess_bulk(np.asarray(v, np.float64))) for v in draws.values()))


def max_rhat(draws: dict) -> float:
    """The largest R-hat over every parameter (``jaxmh.diagnostics.rhat``): a chain stuck apart shows here."""
    from jaxmh import diagnostics
    import numpy as np
    return float(max(np.max(diagnostics.rhat(np.asarray(v, np.float64))) for v in draws.values()))


def _median_run(runs: list) -> tuple:
    """``(seconds, min ESS, max R-hat)``: each the median over the timed runs."""
    import numpy as np
    return tuple(float(np.median([r[i] for r in runs])) for i in range(3))


def _median_rate(runs: list) -> float:
    """The median over the timed runs of each run's min bulk ESS per second."""
    import numpy as np
    return float(np.median([ess / seconds for seconds, ess, _ in runs]))


def _repetitions(repeats: int, min_seconds: float, runs: list):
    """Run indices: at least ``repeats`` runs, more until the timed runs (``runs``' first entries) add up to
    ``min_seconds`` (at most 50)."""
    rep = 0
    while rep < repeats or (sum(r[0] for r in runs) < min_seconds and rep < 50):
        yield rep
        rep += 1


def time_jaxmh(m, key_seed: int, num_samples: int, num_warmup: int, num_chains: int = 4, repeats: int = 1,
               min_seconds: float = 0.0) -> dict:
    import jax
    import jaxmh
    n = num_samples
    while True:
        t0 = time.perf_counter()
        first = jaxmh.fit(jax.random.PRNGKey(key_seed), m, num_chains=num_chains, num_samples=n,
                          num_warmup=num_warmup, progress=False)
        jax.block_until_ready(first.draws)
        first_seconds = time.perf_counter() - t0
        runs = []
        for rep in _repetitions(repeats, min_seconds, runs):
            t0 = time.perf_counter()
            r = jaxmh.fit(jax.random.PRNGKey(key_seed + 1 + rep), m, num_chains=num_chains, num_samples=n,
                          num_warmup=num_warmup, progress=False)
            jax.block_until_ready(r.draws)
            runs.append((time.perf_counter() - t0, min_ess(r.draws), max_rhat(r.draws)))
        seconds, ess, rhat = _median_run(runs)
        if ess >= MIN_ESS or n >= 64 * num_samples:
            return {"sampler": f"jaxmh {r.method if isinstance(r.method, str) else 'default'}", "draws": n,
                    "warmup": num_warmup, "min_ess_bulk": ess, "max_rhat": rhat, "seconds": seconds,
                    "first_run_seconds": first_seconds, "ess_per_s": _median_rate(runs), "divergences": None,
                    "repeats": [{"seconds": a, "min_ess_bulk": b, "max_rhat": c} for a, b, c in runs]}
        n *= 2


def nuts_runner(model, num_warmup: int, num_samples: int, num_chains: int, target_accept: float = 0.8,
                init: str = "uniform"):
    """A jitted ``run(key) -> (constrained draws (chain, draw, ...), divergences (chain, draw))``: NumPyro's NUTS
    kernel (``numpyro.infer.hmc.hmc``, with its step-size and diagonal mass-matrix warm-up), chains vmapped
    (as ``chain_method="vectorized"``), initial values uniform on (-2, 2) in the unconstrained space (NumPyro's
    ``init_to_uniform``, drawn again while the potential or its gradient is not finite, as NumPyro does; ``init="median"``: NumPyro's ``init_to_median`` per chain, computed once when the
    runner is built, so that neither run's time includes it).  Unlike ``MCMC.run``, which traces and compiles again on every call, the
    second call of ``run`` reuses the compiled program, so its time excludes compilation."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import init_to_median
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), model, dynamic_args=False)
    template = info.param_info.z
    potential_fn, postprocess_fn = info.potential_fn, info.postprocess_fn
    init_kernel, sample_kernel = hmc(potential_fn, algo="NUTS")
    leaves, treedef = jax.tree.flatten(template)

    if init not in ("uniform", "median"):
        raise ValueError(f"init must be 'uniform' or 'median', got {init!r}")

    def one_chain(key, z_median=None):
        k_init, k_run = jax.random.split(key)
        if z_median is None:
            def uniform(k):
                ks = jax.random.split(k, len(leaves))
                return jax.tree.unflatten(treedef, [jax.random.uniform(k, jnp.shape(x), jnp.result_type(x),
                                                                       -2.0, 2.0) for k, x in zip(ks, leaves)])

            def invalid(z):
                pe, grad = jax.value_and_grad(potential_fn)(z)
                ok = jnp.isfinite(pe)
                for g in jax.tree.leaves(grad):
                    ok = ok & jnp.all(jnp.isfinite(g))
                return ~ok

            # As NumPyro's find_valid_initial_params: draw again (up to 100 tries) while the potential or its
            # gradient is not finite (e.g. a Poisson rate exp(eta) overflowing float32); the first try is the
            # draw from k_init itself.
            _, z0 = jax.lax.while_loop(lambda c: (c[0] < 100) & invalid(c[1]),
                                       lambda c: (c[0] + 1, uniform(jax.random.fold_in(k_init, c[0] + 1))),
                                       (0, uniform(k_init)))
        else:
            z0 = z_median
        state = init_kernel(z0, num_warmup=num_warmup, target_accept_prob=target_accept, rng_key=k_run)
        state = jax.lax.fori_loop(0, num_warmup, lambda i, st: sample_kernel(st), state)

        def step(st, _):
            st = sample_kernel(st)
            return st, (st.z, st.diverging)

        _, (zs, div) = jax.lax.scan(step, state, None, length=num_samples)
        return jax.vmap(postprocess_fn)(zs), div

    if init == "uniform":
        @jax.jit
        def run(key):
            return jax.vmap(one_chain)(jax.random.split(key, num_chains))

        return run

    # The starts are computed here, once (from fixed keys), so that neither run's time includes them.
    starts = [initialize_model(k, model, init_strategy=init_to_median(), dynamic_args=False).param_info.z
              for k in jax.random.split(jax.random.PRNGKey(1), num_chains)]
    z_medians = jax.tree.map(lambda *xs: jnp.stack(xs), *starts)

    @jax.jit
    def run_median(key):
        return jax.vmap(one_chain)(jax.random.split(key, num_chains), z_medians)

    return run_median


def time_nuts(m, key_seed: int, centered: bool, num_samples: int, num_warmup: int, num_chains: int = 4,
              target_accept: float = 0.8, init: str = "uniform", repeats: int = 1, min_seconds: float = 0.0) -> dict:
    import jax
    import numpy as np
    from formula_reference import jaxmh_draws, numpyro_model
    n = num_samples
    while True:
        run = nuts_runner(numpyro_model(m, centered), num_warmup, n, num_chains, target_accept, init)
        t0 = time.perf_counter()
        jax.block_until_ready(run(jax.random.PRNGKey(key_seed)))
        first_seconds = time.perf_counter() - t0
        runs, divergences = [], []
        for rep in _repetitions(repeats, min_seconds, runs):
            t0 = time.perf_counter()
            samples, div = jax.block_until_ready(run(jax.random.PRNGKey(key_seed + 1 + rep)))
            seconds = time.perf_counter() - t0
            draws = jaxmh_draws(m, samples)
            runs.append((seconds, min_ess(draws), max_rhat(draws)))
            divergences.append(int(np.sum(np.asarray(div))))
        seconds, ess, rhat = _median_run(runs)
        if ess >= MIN_ESS or n >= 16 * num_samples:
            return {"sampler": f"NUTS {'centred' if centered else 'non-centred'}", "draws": n, "warmup": num_warmup,
                    "min_ess_bulk": ess, "max_rhat": rhat, "seconds": seconds,
                    "first_run_seconds": first_seconds, "ess_per_s": _median_rate(runs),
                    "divergences": int(np.median(divergences)), "target_accept_prob": target_accept, "init": init,
                    "repeats": [{"seconds": a, "min_ess_bulk": b, "max_rhat": c, "divergences": d}
                                for (a, b, c), d in zip(runs, divergences)]}
        n *= 2


# ---------------------------------------------------------------------------
# Fresh-subprocess cases
# ---------------------------------------------------------------------------
_CSV_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
x64 = sys.argv[4] == "1"
if x64:
    import jax
    jax.config.update("jax_enable_x64", True)
import jax
import jaxmh
import numpy as np
formula, path, start, kwargs = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[5])
m = jaxmh.model(formula, path, **kwargs)
n, attempts = start, []
while True:
    r = jaxmh.fit(jax.random.PRNGKey(0), m, num_samples=n, progress=False)
    s = jaxmh.summary(r, warn=False).to_dict()
    worst_rhat = max(v["rhat"] for v in s.values())
    worst_ess = min(v["ess_bulk"] for v in s.values())
    attempts.append({"draws": n, "max_rhat": worst_rhat, "min_ess_bulk": worst_ess,
                     "elapsed": time.perf_counter() - t0})
    if (worst_rhat < 1.01 and worst_ess >= 400) or n >= 64000:
        break
    n *= 2
print("RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "attempts": attempts,
                              "converged": worst_rhat < 1.01 and worst_ess >= 400}))
"""

_LARGE_CHILD = r"""
import json, resource, sys, time
x64 = sys.argv[4] == "1"
if x64:
    import jax
    jax.config.update("jax_enable_x64", True)
import jax
import numpy as np
import jaxmh
from jaxmh import diagnostics
rows, l1, l2, start = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
rng = np.random.default_rng(12345)
g1 = rng.integers(0, l1, rows)
g2 = rng.integers(0, l2, rows)
x = rng.normal(size=rows)
y = 1.0 + 0.5 * x + rng.normal(0, 0.8, l1)[g1] + rng.normal(0, 0.5, l2)[g2] + rng.normal(0, 1.0, rows)
data = {"y": y, "x": x, "g1": np.array([f"a{i}" for i in g1]), "g2": np.array([f"b{i}" for i in g2])}
rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
m = jaxmh.model("y ~ x + (1 | g1) + (1 | g2)", data)
model_seconds = time.perf_counter() - t0
n, attempts = start, []
while True:
    t1 = time.perf_counter()
    r = jaxmh.fit(jax.random.PRNGKey(0), m, num_samples=n, progress=False)
    jax.block_until_ready(r.draws)
    fit_seconds = time.perf_counter() - t1
    ess = float(min(np.min(diagnostics.ess_bulk(np.asarray(v, np.float64))) for v in r.draws.values()))
    rhat = float(max(np.max(diagnostics.rhat(np.asarray(v, np.float64))) for v in r.draws.values()))
    attempts.append({"draws": n, "fit_seconds": fit_seconds, "min_ess_bulk": ess, "max_rhat": rhat,
                     "elapsed": time.perf_counter() - t0})
    if ess >= 400 or n >= 64000:
        break
    del r
    n *= 2
print("RESULT " + json.dumps({"rows": rows, "levels": [l1, l2], "model_seconds": model_seconds,
                              "seconds": time.perf_counter() - t0, "attempts": attempts, "reached": ess >= 400,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                              "rss_before_model_mb": rss_data / 1024}))
"""


def _child(code: str, *args) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                         cwd=os.path.join(HERE, os.pardir))
    wall = time.perf_counter() - t0
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"subprocess failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["process_wall_seconds"] = wall
    return result


def csv_to_summary(name: str, csv_path: str, formula: str, x64: bool, start: int, model_kwargs=None) -> dict:
    """The CSV-to-converged-summary child for one model; ``model_kwargs``: ``jaxmh.model``'s ``family``, ``trials``
    (as given to the child on its command line, JSON)."""
    kwargs = dict(model_kwargs or {})
    res = _child(_CSV_CHILD, formula, csv_path, start, int(x64), json.dumps(kwargs))
    res["model"] = name
    res["model_kwargs"] = kwargs
    return res


def large_case(x64: bool, quick: bool) -> dict:
    if quick:
        return _child(_LARGE_CHILD, 10_000, 300, 100, int(x64), 200)
    return _child(_LARGE_CHILD, 100_000, 3_000, 1_000, int(x64), 1000)


# ---------------------------------------------------------------------------
def main(argv=None) -> dict:
    args = _args(argv)
    import numpyro
    if args.x64:
        numpyro.enable_x64()
    import jax
    import jaxmh
    from _common import machine, write_json

    samples = 200 if args.quick else 1000
    warmup = 200 if args.quick else 1000
    names = args.models.split(",")
    for name in names:
        model_spec(name)                  # an unknown name fails before anything runs
    results = {}
    for i, name in enumerate(names):
        m = build_model(name)
        formula, kwargs = model_spec(name)
        seed = args.seed + 100 * i
        options = NUTS_OPTIONS.get(name, {})
        timing = dict(repeats=args.repeats, min_seconds=args.min_seconds)
        rows = [time_jaxmh(m, seed, samples, warmup, **timing),
                time_nuts(m, seed, True, samples, warmup, **timing, **options),
                time_nuts(m, seed, False, samples, warmup, **timing, **options)]
        best = max(rows[1:], key=lambda r: r["ess_per_s"])
        results[name] = {"formula": formula, "model_kwargs": kwargs, "runs": rows, "best_nuts": best["sampler"],
                         "ratio_jaxmh_over_best_nuts": rows[0]["ess_per_s"] / best["ess_per_s"]}
        for r in rows:
            print(f"  {name}: {r['sampler']}: {r['draws']} draws, min ESS {r['min_ess_bulk']:.0f}, "
                  f"max R-hat {r['max_rhat']:.3f}, {r['seconds']:.2f} s (first run {r['first_run_seconds']:.1f} s), "
                  f"{r['ess_per_s']:.1f} ESS/s, divergences {r['divergences']}", flush=True)

    csv_runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            formula, kwargs = model_spec(name)
            children = [csv_to_summary(name, os.path.abspath(csv_of(name, tmp)), formula, args.x64,
                                       200 if args.quick else 1000, kwargs) for _ in range(args.csv_repeats)]
            # the median run (each a fresh process); all of them kept in the JSON
            csv_runs[name] = dict(sorted(children, key=lambda c: c["seconds"])[len(children) // 2],
                                  all_seconds=[c["seconds"] for c in children])
            print(f"  {name}: CSV to converged summary {csv_runs[name]['seconds']:.1f} s "
                  f"(process {csv_runs[name]['process_wall_seconds']:.1f} s), attempts "
                  f"{[a['draws'] for a in csv_runs[name]['attempts']]}", flush=True)
    large = None if args.no_large else large_case(args.x64, args.quick)

    table = markdown(results, csv_runs, large, args)
    print(table)
    payload = {"settings": {"quick": args.quick, "x64": args.x64, "chains": 4, "nuts_warmup": warmup,
                            "nuts_draws": samples, "jaxmh_warmup": warmup, "min_ess_required": MIN_ESS,
                            "dtype": str(jax.numpy.result_type(float))},
               "versions": {"numpyro": numpyro.__version__, "jaxmh": jaxmh.__version__, **machine()},
               "nuts_options": {k: v for k, v in NUTS_OPTIONS.items() if k in names},
               "models": results, "csv_to_summary": csv_runs, "large": large, "table": table}
    write_json(args.json, payload)
    return payload


def markdown(results: dict, csv_runs: dict, large: dict | None, args) -> str:
    lines = ["| model | sampler | draws/chain | min bulk ESS | max R-hat | seconds | min ESS/s | divergences |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, res in results.items():
        for r in res["runs"]:
            lines.append(f"| {name} | {r['sampler']} | {r['draws']} | {r['min_ess_bulk']:.0f} | {r['max_rhat']:.3f} | "
                         f"{r['seconds']:.2f} | {r['ess_per_s']:.1f} | "
                         f"{'-' if r['divergences'] is None else r['divergences']} |")
    lines += ["", "| model | jaxmh / best NUTS (min ESS/s) | best NUTS | CSV to converged summary, fresh process (s) |",
              "|---|---:|---|---:|"]
    for name, res in results.items():
        c = csv_runs.get(name)
        cs = "-" if c is None else (f"{c['process_wall_seconds']:.1f} ({c['attempts'][-1]['draws']} draws"
                                    f"{'' if c['converged'] else ', NOT converged'})")
        lines.append(f"| {name} | {res['ratio_jaxmh_over_best_nuts']:.2f} | {res['best_nuts']} | {cs} |")
    if large:
        a = large["attempts"][-1]
        lines += ["", f"Large: {large['rows']:,} rows, `y ~ x + (1 | g1) + (1 | g2)`, {large['levels'][0]:,} x "
                      f"{large['levels'][1]:,} crossed levels: min bulk ESS {a['min_ess_bulk']:.0f} "
                      f"({'reached' if large['reached'] else 'NOT reached'} {TARGET_ESS}) after "
                      f"{large['seconds']:.1f} s (model {large['model_seconds']:.1f} s, draws per attempt "
                      f"{[x['draws'] for x in large['attempts']]}, last fit {a['fit_seconds']:.1f} s), "
                      f"peak RSS {large['peak_rss_mb']:.0f} MB"]
    nuts = (f"NUTS {200 if args.quick else 1000:,} warm-up, vectorized chains, target_accept_prob 0.8, "
            "init_to_uniform")
    changed = [f"{name} {', '.join(f'{k}={v}' for k, v in NUTS_OPTIONS[name].items())}"
               for name in results if NUTS_OPTIONS.get(name)]
    if changed:
        nuts += " (except " + "; ".join(changed) + ")"
    lines += ["", f"dtype {'float64' if args.x64 else 'float32'}; 4 chains; {nuts}; "
                  f"seconds exclude compilation (median of at least {args.repeats} timed run(s)"
                  f"{f' and {args.min_seconds:g} s' if args.min_seconds else ''}, new keys)"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
