"""Scale: memory and throughput of streaming runs, the 3-model study, and host-device scaling.

Every measurement runs in its own subprocess (so peak resident memory is that
run's alone, and XLA's device count can be set), one after another.  Usage::

    python benchmarks/scale.py [--quick] [--json scale.json]

Measures (issue 5):

* peak RSS and chain-steps/s, 4,096 chains x 10,000 steps of the tutorial's
  hierarchical model, streaming (``store="moments"``), the tutorial's sampler
  and the group-blocked one;
* chain-steps/s of the streaming tutorial sampler from 1 to 65,536 chains;
* datasets/s of the 3-model study (``jaxmh.study``; 4 chains x 10,000 steps per
  model and dataset, group-blocked sampler for unpooled and hierarchical,
  adaptive for pooled);
* chain-steps/s at 1, 2 and 4 host devices (``--xla_force_host_platform_device_count``).

Times exclude compilation (each run is made twice with the same shapes and the
second is timed), except for the two 4,096 x 10,000 runs and the study, which
are timed once, end to end, compilation included (a few seconds per model).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import jax, jax.numpy as jnp, numpy as np
    import jaxmh

    task = json.loads(sys.argv[1])
    out = {"devices": jax.device_count()}
    data, _ = jaxmh.data.simulate(jax.random.key(0))
    model = jaxmh.models.hierarchical(data, priors="tutorial")

    def block(r):
        jax.block_until_ready(jax.tree_util.tree_leaves(r.moments))

    def timed(run, chain_steps, warm):
        # seconds of run(), after one untimed run of the same shapes if warm
        if warm:
            block(run())
        t = time.perf_counter(); block(run()); seconds = time.perf_counter() - t
        return {"seconds": seconds, "chain_steps_per_s": chain_steps / seconds}

    if task["kind"] == "chains":
        C, steps = task["chains"], task["steps"]
        kernel = jaxmh.rwm(model.logdensity, 0.1)
        start = model.init(jax.random.key(1), C)
        run = lambda: jaxmh.sample(jax.random.key(2), kernel, start, num_samples=steps, store="moments",
                                   progress=False)
        out.update(timed(run, C * steps, task.get("warm", True)))
    elif task["kind"] == "fit":
        C, steps, warm = task["chains"], task["steps"], task["warmup"]
        run = lambda: jaxmh.fit(jax.random.key(2), model, method=task["method"], num_chains=C,
                                num_samples=steps - warm, num_warmup=warm, store="moments",
                                progress=False)
        out.update(timed(run, C * steps, task.get("warm", True)))
    elif task["kind"] == "study":
        N, batch = task["datasets"], task["batch"]
        settings = dict(num_samples=task["samples"], num_warmup=task["warmup"], batch_size=batch,
                        progress=False)
        t = time.perf_counter(); s = jaxmh.study(jax.random.key(1), N, **settings)  # with compilation
        seconds = time.perf_counter() - t
        wins = s.hierarchical_wins()
        out.update(seconds=seconds, datasets_per_s=N / seconds, hierarchical_wins=wins,
                   median_rmse={f.model: [float(np.median(f.rmse_alpha)), float(np.median(f.rmse_beta))]
                                for f in s.fits},
                   not_converged={f.model: float(np.mean(f.max_rhat > 1.01)) for f in s.fits})
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
""")


def child(task: dict, devices: int = 1) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(task)], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test, not for docs)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--skip-study", action="store_true", help="leave out the 1,000-dataset study")
    args = parser.parse_args(argv)
    q = args.quick
    results = {"machine": machine()}

    print("## Streaming, 4,096 chains x 10,000 steps (peak RSS of the whole process)")
    print(f"{'sampler':<28}{'seconds':>9}{'chain-steps/s':>15}{'peak RSS MB':>13}")
    big = []
    for name, task in [
        ("tutorial rwm (sample)", {"kind": "chains", "chains": 4096, "steps": 1000 if q else 10_000,
                                   "warm": False}),
        ("blocked (fit, 2,000 warm-up)", {"kind": "fit", "method": "blocked", "chains": 4096,
                                          "steps": 1000 if q else 10_000, "warmup": 200 if q else 2000,
                                          "warm": False}),
    ]:
        r = child(task)
        big.append(dict(r, sampler=name))
        print(f"{name:<28}{r['seconds']:>9.1f}{r['chain_steps_per_s']:>15,.0f}{r['peak_rss_mb']:>13,.0f}")
    results["streaming_4096"] = big

    print("\n## Chain-steps/s of the streaming tutorial sampler by number of chains")
    print(f"{'chains':>8}{'steps':>8}{'seconds':>9}{'chain-steps/s':>15}{'peak RSS MB':>13}")
    sweep = []
    for chains, steps in [(1, 20_000), (16, 20_000), (256, 10_000), (4096, 2_000), (16_384, 1_000),
                          (65_536, 300)]:
        if q:
            steps = max(50, steps // 10)
        r = child({"kind": "chains", "chains": chains, "steps": steps})
        sweep.append(dict(r, chains=chains, steps=steps))
        print(f"{chains:>8,}{steps:>8,}{r['seconds']:>9.2f}{r['chain_steps_per_s']:>15,.0f}"
              f"{r['peak_rss_mb']:>13,.0f}")
    results["chains_sweep"] = sweep

    print("\n## Host devices (4,096 chains, streaming tutorial sampler)")
    print(f"{'devices':>8}{'seconds':>9}{'chain-steps/s':>15}{'speed-up':>10}")
    scaling = []
    for devices in (1, 2, 4):
        r = child({"kind": "chains", "chains": 4096, "steps": 500 if q else 3000}, devices=devices)
        scaling.append(dict(r, devices=devices))
        print(f"{devices:>8}{r['seconds']:>9.2f}{r['chain_steps_per_s']:>15,.0f}"
              f"{r['chain_steps_per_s'] / scaling[0]['chain_steps_per_s']:>10.2f}")
    results["devices"] = scaling

    if not args.skip_study:
        n = 16 if q else 1000
        print(f"\n## Study: {n} datasets x 3 models x 4 chains x 10,000 steps")
        r = child({"kind": "study", "datasets": n, "batch": 16 if q else 64,
                   "samples": 800 if q else 8000, "warmup": 200 if q else 2000})
        results["study"] = dict(r, datasets=n)
        print(f"{r['seconds']:.1f} s, {r['datasets_per_s']:.2f} datasets/s, peak RSS "
              f"{r['peak_rss_mb']:,.0f} MB; hierarchical beats unpooled on "
              f"{r['hierarchical_wins']['both']:.1%} of datasets (both alpha and beta); median RMSE "
              f"(alpha, beta): {r['median_rmse']}; share with R-hat > 1.01: {r['not_converged']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
