"""Several devices: chains sharded over 4 (forced host) devices give the one-device results."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from conftest import REPO_ROOT, SEED_R_DATA, batch_means

SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    import jaxmh

    data = jaxmh.data.from_csv(sys.argv[2], x="x", y="y", group="i")
    model = jaxmh.models.hierarchical(data, priors="tutorial")
    out = {"devices": np.asarray(jax.device_count())}
    # a fixed kernel through sample(): 6 chains, padded to 8 over 4 devices
    kernel = jaxmh.rwm(model.logdensity, 0.1)
    r = jaxmh.sample(jax.random.key(1), kernel, model.init(jax.random.key(2), 6), 300, num_warmup=100,
                     store="both")
    out.update({f"sample_{k}": np.asarray(v) for k, v in r.draws.items()})
    out["sample_rate"] = np.asarray(r.acceptance_rate)
    out["sample_mean"] = np.asarray(r.moments.mean["alpha"])
    # the tutorial's sampler through fit()
    r = jaxmh.fit(jax.random.key(3), model, method="rwm", num_chains=4, num_samples=300, num_warmup=100)
    out.update({f"fit_{k}": np.asarray(v) for k, v in r.draws.items()})
    # a study: datasets x chains on one sharded axis
    s = jaxmh.study(jax.random.key(4), 3, method="rwm", num_samples=100, num_warmup=100)
    for f in s.fits:
        out[f"study_{f.model}"] = f.rmse_alpha
    # the adaptive default sampler: posterior means per chain, compared statistically; and how many
    # times its sampling program was compiled (warm-up and sampling run one program)
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **kw: compiled.append(kw.get("fun_name")) if "backend_compile" in event else None)
    r = jaxmh.fit(jax.random.key(5), model, num_chains=4, num_samples=4000, num_warmup=1000)
    out["blocked_mu_alpha"] = np.asarray(r.draws["mu_alpha"])
    out["blocked_chunk_compiles"] = np.asarray(sum(name == "jit(_chunk_impl)" for name in compiled))
    np.savez(sys.argv[1], **out)
""")


def _run(tmp_path, name, devices):
    script = tmp_path / "devices.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}").strip()
    path = tmp_path / name
    proc = subprocess.run([sys.executable, str(script), str(path), SEED_R_DATA], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(path)


def test_four_devices_give_the_one_device_results(tmp_path):
    one, four = _run(tmp_path, "one.npz", 1), _run(tmp_path, "four.npz", 4)
    assert int(one["devices"]) == 1 and int(four["devices"]) == 4
    exact = [k for k in one.files if k.split("_")[0] in ("sample", "fit", "study")]
    assert len(exact) > 10
    for name in exact:
        np.testing.assert_array_equal(four[name], one[name], err_msg=name)
    # With warm-up adaptation the per-device program may round differently (see
    # jaxmh/devices.py), so the chains may differ; the posteriors must agree within MC error.
    (ma, sa), (mb, sb) = batch_means(one["blocked_mu_alpha"], 20), batch_means(four["blocked_mu_alpha"], 20)
    assert abs(ma - mb) < 4 * np.hypot(sa, sb)
    # the sampling phase reuses the warm-up's compiled program, on several devices as on one (its carry
    # once came back sharded over the chains where it went in unsharded: a second, identical compile)
    assert int(one["blocked_chunk_compiles"]) == 1
    assert int(four["blocked_chunk_compiles"]) == 1
