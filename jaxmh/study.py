"""Simulation studies: the tutorial's comparison over many simulated datasets at once.

:func:`study` simulates ``num_datasets`` datasets from the tutorial's process,
fits every model to every dataset and scores the posterior means against the
truth.  Datasets and chains are one ``vmap``-ed axis (dataset ``d``'s chain
``c`` is chain ``d * num_chains + c`` of one big run, its data passed to the
kernel as per-chain sufficient statistics), processed in batches of
``batch_size`` datasets so memory stays bounded; draws are never stored, only
running moments (``store="moments"``).  Dataset ``d``'s data, starting values
and keys depend only on ``key`` and ``d``, so its results do not depend on how
many datasets run beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _loop, diagnostics
from jaxmh import progress as progress_mod
from jaxmh._threefry import fold_in
from jaxmh.data import simulate_arrays
from jaxmh.fitting import DEFAULT_STEP_SIZE, METHODS, plan, run_plan
from jaxmh.kernels import group_blocked as blocked_kernel, random_walk as rwm_kernel
from jaxmh.models import hierarchical, pooled, unpooled
from jaxmh.models._regression import group_stats
from jaxmh.moments import moments_of
from jaxmh.summary import RHAT_THRESHOLD

__all__ = ["study", "Study", "ModelStudy", "MODEL_IDS"]

#: Each model's fixed index: it seeds the model's keys, so a dataset's results for
#: one model do not depend on which other models are in the study.
MODEL_IDS = {"pooled": 0, "unpooled": 1, "hierarchical": 2}
#: The study reproduces the tutorial, so its models keep the tutorial's priors.
_BUILDERS = {"pooled": partial(pooled, priors="tutorial"), "unpooled": partial(unpooled, priors="tutorial"),
             "hierarchical": partial(hierarchical, priors="tutorial")}
#: The tutorial's proposal sds, used by ``method="rwm"`` (pooled is not in the tutorial).
_TUTORIAL_SD = {"pooled": 0.1, "unpooled": 0.125, "hierarchical": 0.1}


class ModelStudy(NamedTuple):
    """One model's results over all datasets (arrays of shape ``(num_datasets,)``)."""

    model: str
    method: str
    rmse_alpha: np.ndarray
    rmse_beta: np.ndarray
    sigma_mean: np.ndarray
    max_rhat: np.ndarray        # Gelman-Rubin R-hat from chain moments, max over parameters
    acceptance_rate: np.ndarray  # mean over chains
    seconds: float


class Study(NamedTuple):
    """What :func:`study` returns: per-model results and the settings."""

    fits: tuple
    num_datasets: int
    num_groups: int
    group_size: int
    num_chains: int
    num_samples: int
    num_warmup: int

    def __getitem__(self, model):  # type: ignore[override]
        if isinstance(model, str):
            for f in self.fits:
                if f.model == model:
                    return f
            raise KeyError(f"no model {model!r} in this study; it has {[f.model for f in self.fits]}")
        return tuple.__getitem__(self, model)

    def hierarchical_wins(self) -> dict | None:
        """Share of datasets where the hierarchical model's RMSE beats the unpooled one's."""
        names = [f.model for f in self.fits]
        if "hierarchical" not in names or "unpooled" not in names:
            return None
        h, u = self["hierarchical"], self["unpooled"]
        return {"alpha": float(np.mean(h.rmse_alpha < u.rmse_alpha)),
                "beta": float(np.mean(h.rmse_beta < u.rmse_beta)),
                "both": float(np.mean((h.rmse_alpha < u.rmse_alpha) & (h.rmse_beta < u.rmse_beta)))}

    def table(self) -> str:
        """Per model: RMSE of alpha and beta across datasets (mean, sd, 5%, 50%, 95%) and diagnostics."""
        head = (f"{'model':<13}{'':>6}{'mean':>8}{'sd':>8}{'5%':>8}{'50%':>8}{'95%':>8}"
                f"{'accept':>9}{'R-hat>1.01':>12}{'seconds':>9}")
        lines = [head, "-" * len(head)]
        for f in self.fits:
            for i, (what, v) in enumerate((("alpha", f.rmse_alpha), ("beta", f.rmse_beta))):
                q5, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
                tail = (f"{np.mean(f.acceptance_rate):>9.3f}{np.mean(f.max_rhat > RHAT_THRESHOLD):>12.1%}"
                        f"{f.seconds:>9.1f}") if i == 0 else ""
                lines.append(f"{f.model if i == 0 else '':<13}{what:>6}{np.mean(v):>8.3f}"
                             f"{np.std(v, ddof=1) if v.size > 1 else 0.0:>8.3f}{q5:>8.3f}{q50:>8.3f}"
                             f"{q95:>8.3f}{tail}")
        wins = self.hierarchical_wins()
        if wins is not None:
            lines.append(
                f"hierarchical beats unpooled in {wins['alpha']:.1%} of datasets for alpha, "
                f"{wins['beta']:.1%} for beta, {wins['both']:.1%} for both")
        lines.append("RMSE: root mean square error of the posterior means against the true alpha_i, "
                     "beta_i, per dataset; R-hat>1.01: share of datasets with any parameter's "
                     "R-hat (from chain means and variances) above 1.01")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain lists and numbers (JSON-ready)."""
        return {
            "settings": {k: getattr(self, k) for k in ("num_datasets", "num_groups", "group_size",
                                                        "num_chains", "num_samples", "num_warmup")},
            "models": {f.model: {"method": f.method, "seconds": f.seconds,
                                 **{k: np.asarray(getattr(f, k)).tolist() for k in
                                    ("rmse_alpha", "rmse_beta", "sigma_mean", "max_rhat",
                                     "acceptance_rate")}}
                       for f in self.fits},
            "hierarchical_wins": self.hierarchical_wins(),
        }


@dataclass(frozen=True)
class _DataStep:
    """A kernel step whose model is rebuilt from per-chain data: ``params = (stats, step_size)``."""

    model: str
    blocked: bool

    def __call__(self, key, state, params):
        stats, step_size = params
        model = _BUILDERS[self.model](stats)
        if self.blocked:
            sizes, interweave = step_size
            return blocked_kernel.build_kernel()(key, state, model.split, sizes, interweave)
        return rwm_kernel.build_kernel()(key, state, model.logdensity, step_size)


@partial(jax.jit, static_argnames=("num_groups", "group_size"))
def _simulate(key, ids, *, num_groups, group_size):
    """Sufficient statistics (grouped and pooled) and truth of datasets ``ids``."""
    def one(d):
        arrays, truth = simulate_arrays(fold_in(key, d), num_groups, group_size)
        stats = group_stats(arrays["x"], arrays["y"], arrays["group"], num_groups)
        pooled_stats = group_stats(arrays["x"], arrays["y"], jnp.zeros_like(arrays["group"]), 1)
        return stats, pooled_stats, truth

    return jax.vmap(one)(ids)


def _repeat_chains(tree, num_chains):
    """``(B, ...) -> (B * num_chains, ...)``: each dataset's leaves once per chain."""
    return jax.tree.map(lambda v: jnp.repeat(v, num_chains, axis=0), tree)


def study(
    key: jax.Array,
    num_datasets: int,
    *,
    num_groups: int = 75,
    group_size: int = 5,
    models: Sequence[str] = ("pooled", "unpooled", "hierarchical"),
    method: str | None = None,
    num_chains: int = 4,
    num_samples: int = 8000,
    num_warmup: int = 2000,
    batch_size: int = 64,
    progress: bool | None = None,
) -> Study:
    """Fit every model to ``num_datasets`` datasets simulated from the tutorial's process.

    Parameters
    ----------
    key
        PRNG key; dataset ``d`` is simulated from ``fold_in(key_data, d)``.
    num_datasets
        How many datasets.
    num_groups, group_size
        Individuals per dataset and observations per individual (tutorial: 75 x 5).
    models
        Any of ``"pooled"``, ``"unpooled"``, ``"hierarchical"``.
    method
        Sampler for every model, as in :func:`jaxmh.fit`; default: each model's
        ``fit`` default (group-blocked for models with groups, adaptive random
        walk for the pooled model).  ``"rwm"`` is the tutorial's sampler with
        its proposal sds (0.125 unpooled, 0.1 otherwise).
    num_chains, num_samples, num_warmup
        Chains per model and dataset; kept draws per chain; warm-up steps
        (10,000 steps in all by default, as in the tutorial).
    batch_size
        Datasets per compiled run (memory grows with it).  Every batch is full
        (the last one padded with extra datasets, dropped afterwards), so a
        dataset's results depend on ``batch_size`` but not on ``num_datasets``.
    progress
        Progress bar over batches (default: only in a terminal, not under ``CI``).

    Returns
    -------
    Study
        ``.table()``, ``.to_dict()``, ``.hierarchical_wins()``, and per model
        (``study["hierarchical"]``) arrays over datasets: ``rmse_alpha``,
        ``rmse_beta``, ``sigma_mean``, ``max_rhat``, ``acceptance_rate``.

    Examples
    --------
    >>> import jax, jaxmh
    >>> s = jaxmh.study(jax.random.key(0), 8, num_samples=500, num_warmup=500, batch_size=8)
    >>> s["hierarchical"].rmse_alpha.shape
    (8,)
    """
    key = _checks.as_key(key)
    num_datasets = _checks.positive_int(num_datasets, "num_datasets")
    num_groups = _checks.positive_int(num_groups, "num_groups")
    group_size = _checks.positive_int(group_size, "group_size")
    num_chains = _checks.positive_int(num_chains, "num_chains")
    num_samples = _checks.positive_int(num_samples, "num_samples")
    num_warmup = _checks.nonnegative_int(num_warmup, "num_warmup")
    batch_size = _checks.positive_int(batch_size, "batch_size")
    if isinstance(models, str):
        models = (models,)
    models = tuple(models)
    if not models:
        raise ValueError("models is empty; expected some of ('pooled', 'unpooled', 'hierarchical')")
    for name in models:
        if name not in MODEL_IDS:
            raise ValueError(f"models: unknown model {name!r}; expected some of {tuple(MODEL_IDS)}")
    if len(set(models)) != len(models):
        raise ValueError(f"models lists a model twice: {models}")
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} or None, got {method!r}")
    if method == "blocked" and "pooled" in models:
        raise ValueError("method='blocked' needs models with groups; the pooled model has none "
                         "(leave method=None to use each model's default)")
    if num_groups < 2 and "hierarchical" in models:
        raise ValueError("num_groups must be >= 2 for the hierarchical model")

    k_data, k_models = jax.random.split(key)
    # Always full batches (the last one padded with extra datasets whose results are dropped):
    # a dataset's chains then run in the same compiled program whatever num_datasets is, so its
    # results are bit for bit the same (XLA may round a batch of another size differently).
    batch = batch_size
    num_batches = -(-num_datasets // batch)
    show = progress_mod.wanted(progress)
    bar = progress_mod.Progress(num_batches * len(models), show, desc="study")
    results = {name: {k: [] for k in ("rmse_alpha", "rmse_beta", "sigma_mean", "max_rhat",
                                      "acceptance_rate")} for name in models}
    seconds = {name: 0.0 for name in models}
    done = 0
    for b in range(num_batches):
        ids = jnp.arange(b * batch, (b + 1) * batch, dtype=jnp.uint32)  # the last batch is padded
        stats, pooled_stats, truth = _simulate(k_data, ids, num_groups=num_groups, group_size=group_size)
        for name in models:
            start = time.perf_counter()
            data = pooled_stats if name == "pooled" else stats
            out = _fit_batch(fold_in(k_models, MODEL_IDS[name]), name, method, data, ids, num_chains,
                             num_samples, num_warmup)
            _score(results[name], out, truth, num_chains)
            seconds[name] += time.perf_counter() - start
            done += 1
            bar.update(done)
    bar.close()
    fits = []
    for name in models:
        r = {k: np.concatenate(v)[:num_datasets] for k, v in results[name].items()}
        how = method or ("adaptive" if name == "pooled" else "blocked")
        fits.append(ModelStudy(name, how, seconds=seconds[name], **r))
    return Study(tuple(fits), num_datasets, num_groups, group_size, num_chains, num_samples, num_warmup)


def _fit_batch(key, name, method, data, ids, num_chains, num_samples, num_warmup) -> "_loop.Output":
    """Fit model ``name`` to a batch of datasets; chains of all datasets on one axis."""
    num = int(ids.shape[0])
    how = method or ("adaptive" if name == "pooled" else "blocked")
    template = _BUILDERS[name](jax.tree.map(lambda v: v[0], data))
    k_init, k_warm, k_run = jax.random.split(key, 3)
    positions = jax.vmap(lambda d: template.init(fold_in(k_init, d), num_chains))(ids)
    positions = jax.tree.map(lambda v: v.reshape((num * num_chains,) + v.shape[2:]), positions)
    per_chain = _repeat_chains(data, num_chains)
    step = _DataStep(name, how == "blocked")
    if how == "blocked":
        states = jax.vmap(lambda p, s: blocked_kernel.init(p, _BUILDERS[name](s).split))(positions, per_chain)
    else:
        states = jax.vmap(lambda p, s: rwm_kernel.init(p, _BUILDERS[name](s).logdensity))(positions, per_chain)
    start = _TUTORIAL_SD[name] if how == "rwm" else DEFAULT_STEP_SIZE
    p = plan(template, how, positions, start, num_warmup, data=per_chain, step_fn=step, states=states)
    chain_ids = (ids[:, None] * num_chains + jnp.arange(num_chains, dtype=jnp.uint32)).reshape(-1)
    return run_plan(p, k_warm, k_run, chain_ids, num_warmup=num_warmup, num_samples=num_samples,
                    thin=1, store="moments")


def _score(into: dict, out: "_loop.Output", truth: Mapping, num_chains: int) -> None:
    """Posterior means -> RMSE against the truth, R-hat and acceptance per dataset."""
    num = truth["alpha"].shape[0]
    moments = jax.vmap(moments_of)(jax.tree.map(lambda v: v[: num * num_chains], out.welford))
    by_set = lambda v: np.asarray(v, np.float64).reshape((num, num_chains) + np.shape(v)[1:])  # noqa: E731
    count = by_set(moments.count)
    mean = {k: by_set(v) for k, v in moments.mean.items()}
    var = {k: by_set(v) for k, v in moments.variance.items()}
    post = {k: v.mean(axis=1) for k, v in mean.items()}   # equal counts: mean of chain means
    alpha_true, beta_true = np.asarray(truth["alpha"], np.float64), np.asarray(truth["beta"], np.float64)
    a = np.broadcast_to(post["alpha"].reshape(num, -1), alpha_true.shape)
    b = np.broadcast_to(post["beta"].reshape(num, -1), beta_true.shape)
    into["rmse_alpha"].append(np.sqrt(np.mean((a - alpha_true) ** 2, axis=1)))
    into["rmse_beta"].append(np.sqrt(np.mean((b - beta_true) ** 2, axis=1)))
    into["sigma_mean"].append(post["sigma"].reshape(num))
    rhats = []
    for d in range(num):
        worst = [np.nanmax(np.atleast_1d(diagnostics.rhat_from_moments(
            count[d], mean[k][d].reshape(num_chains, -1), var[k][d].reshape(num_chains, -1))))
            for k in mean]
        rhats.append(max(worst))
    into["max_rhat"].append(np.asarray(rhats))
    blocks = out.blocks
    rate = np.asarray(out.accepted[: num * num_chains], np.float64) / (count.reshape(-1) * blocks)
    into["acceptance_rate"].append(rate.reshape(num, num_chains).mean(axis=1))
