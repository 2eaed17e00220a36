"""Checkpoints: a run killed with SIGKILL and resumed is bit for bit the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmh
from jaxmh import _loop

from conftest import REPO_ROOT

# A target whose log-density costs about a million flops, so that a chunk of 500
# steps takes a noticeable fraction of a second and the kill lands mid-run.
SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    import jaxmh

    A = jax.random.normal(jax.random.key(9), (160, 160)) / 160.0 + jnp.eye(160)

    def logdensity(p):
        z = p["x"]
        for _ in range(6):
            z = A @ z
        return -0.5 * jnp.sum(z ** 2) / 36.0 - 0.5 * p["s"] ** 2

    kernel = jaxmh.rwm(logdensity, step_size={"x": 0.05, "s": 0.5})
    start = {"x": jnp.zeros((4, 160)), "s": jnp.zeros((4,))}
    result = jaxmh.sample(jax.random.key(1), kernel, start, 6000, num_warmup=1000, thin=2,
                          store="both", checkpoint=sys.argv[1], checkpoint_every=1000, progress=False)
    out = {f"draws_{k}": np.asarray(v) for k, v in result.draws.items()}
    out.update({f"mean_{k}": np.asarray(v) for k, v in result.moments.mean.items()})
    out.update({f"var_{k}": np.asarray(v) for k, v in result.moments.variance.items()})
    out["rate"] = np.asarray(result.acceptance_rate)
    out["final_x"] = np.asarray(result.final_state.position["x"])
    out["final_ld"] = np.asarray(result.final_state.logdensity)
    np.savez(sys.argv[2], **out)
""")


def _run_script(tmp_path, checkpoint, output):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, str(script), str(checkpoint), str(output)], env=env,
                            cwd=REPO_ROOT, stderr=subprocess.PIPE)


def _progress(path):
    with np.load(path, allow_pickle=False) as f:      # no pickle in a checkpoint
        meta = json.loads(str(f["__meta__"]))
    return meta["warmup_done"], meta["draws_done"]


def test_sigkill_then_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    ckpt, killed_out = tmp_path / "run.npz", tmp_path / "killed.npz"
    proc = _run_script(tmp_path, ckpt, killed_out)
    deadline = time.monotonic() + 300
    # wait until some sampling chunks (not only warm-up) are on disk, then kill -9
    while time.monotonic() < deadline:
        if ckpt.exists():
            try:
                warm, draws = _progress(ckpt)
            except Exception:  # noqa: BLE001 - caught mid-rename on a slow file system
                warm, draws = 0, 0
            if draws >= 1000:
                break
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be killed: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not killed_out.exists()
    warm, draws = _progress(ckpt)
    assert warm == 1000 and 0 < draws < 6000, (warm, draws)

    resumed = _run_script(tmp_path, ckpt, killed_out)
    assert resumed.wait(300) == 0, resumed.stderr.read().decode()[-2000:]
    whole_out = tmp_path / "whole.npz"
    whole = _run_script(tmp_path, tmp_path / "other.npz", whole_out)
    assert whole.wait(300) == 0, whole.stderr.read().decode()[-2000:]
    with np.load(killed_out) as a, np.load(whole_out) as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


class _Interrupt(Exception):
    pass


def _interrupt_after(monkeypatch, phase, calls):
    """Make the ``calls``-th chunk of ``phase`` raise, as if the process died there."""
    original = getattr(_loop, phase)
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise _Interrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(_loop, phase, wrapped)


@pytest.mark.parametrize("phase", ["_warmup_chunk", "_sample_chunk"])
def test_fit_resumes_from_warmup_or_sampling_checkpoint(seed_r, tmp_path, monkeypatch, phase):
    model = jaxmh.models.hierarchical(seed_r[0], priors="tutorial")
    settings = dict(num_chains=3, num_samples=300, num_warmup=200, checkpoint_every=40, store="both")
    path = tmp_path / "fit.npz"
    with monkeypatch.context() as m:
        _interrupt_after(m, phase, 2)
        with pytest.raises(_Interrupt):
            jaxmh.fit(jax.random.key(7), model, checkpoint=path, **settings)
    warm, draws = _progress(path)
    assert (warm, draws) == ((80, 0) if phase == "_warmup_chunk" else (200, 80))
    resumed = jaxmh.fit(jax.random.key(7), model, checkpoint=path, **settings)
    whole = jaxmh.fit(jax.random.key(7), model, **settings)
    for a, b in zip(jax.tree_util.tree_leaves(resumed), jax.tree_util.tree_leaves(whole)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_finished_checkpoint_returns_the_result_without_running(tmp_path, monkeypatch):
    kernel = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2), 1.0)
    start = {"x": jnp.zeros((2, 2))}
    path = tmp_path / "done.npz"
    first = jaxmh.sample(jax.random.key(0), kernel, start, num_samples=50, num_warmup=10, checkpoint=path)
    _interrupt_after(monkeypatch, "_sample_chunk", 0)
    _interrupt_after(monkeypatch, "_warmup_chunk", 0)
    again = jaxmh.sample(jax.random.key(0), kernel, start, num_samples=50, num_warmup=10, checkpoint=path)
    np.testing.assert_array_equal(first.draws["x"], again.draws["x"])
    np.testing.assert_array_equal(first.acceptance_rate, again.acceptance_rate)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    kernel = jaxmh.rwm(lambda p: -0.5 * jnp.sum(p["x"] ** 2), 1.0)
    start = {"x": jnp.zeros((2, 2))}
    path = tmp_path / "a.npz"
    jaxmh.sample(jax.random.key(0), kernel, start, num_samples=50, checkpoint=path)
    with pytest.raises(ValueError, match="different run"):
        jaxmh.sample(jax.random.key(0), kernel, start, num_samples=60, checkpoint=path)
    with pytest.raises(ValueError, match="different run"):
        jaxmh.sample(jax.random.key(1), kernel, start, num_samples=50, checkpoint=path)
    with pytest.raises(ValueError, match="different run"):
        jaxmh.sample(jax.random.key(0), kernel, {"x": jnp.ones((2, 2))}, num_samples=50, checkpoint=path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        jaxmh.sample(jax.random.key(0), kernel, start, num_samples=50, checkpoint=junk)
