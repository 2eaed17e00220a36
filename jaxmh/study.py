"""Simulation studies: the tutorial's comparison over many simulated datasets at once.

:func:`study` simulates ``num_datasets`` datasets from the tutorial's process,
fits every model to every dataset and scores the posterior means against the
truth.  Each model is built on every dataset by its builder (so data-scaled
priors are each dataset's own); datasets and chains are then one ``vmap``-ed
axis (dataset ``d``'s chain ``c`` is chain ``d * num_chains + c`` of one big
run), each chain's kernel reading its dataset's :attr:`~jaxmh.models.Model.data`
through :attr:`~jaxmh.models.Model.with_data`.  Batches of ``batch_size``
datasets keep memory bounded; draws are never stored, only running moments
(``store="moments"``).  Dataset ``d``'s data, starting values and keys depend
only on ``key``, ``d`` and the model's name, so its results do not depend on
how many datasets or which other models run beside it.
"""

from __future__ import annotations

import time
import warnings
import zlib
from functools import lru_cache, partial
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxmh import _checks, _loop, comparison, diagnostics, methods
from jaxmh import progress as progress_mod
from jaxmh._threefry import fold_in
from jaxmh.data import GroupedData, simulate_arrays
from jaxmh.fitting import DEFAULT_STEP_SIZE, program
from jaxmh.models import Model, hierarchical, pooled, registry, unpooled
from jaxmh.models import _common as model_common
from jaxmh.moments import moments_of
from jaxmh.sampling import check_initial
from jaxmh.summary import RHAT_THRESHOLD

__all__ = ["study", "Study", "ModelStudy", "TUTORIAL_MODELS", "model_key"]

#: The study reproduces the tutorial: its three models with the tutorial's priors.
TUTORIAL_MODELS = (partial(pooled, priors="tutorial"), partial(unpooled, priors="tutorial"),
                   partial(hierarchical, priors="tutorial"))


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
    rmse: Mapping[str, np.ndarray] | None = None  # every truth parameter the model has -> (num_datasets,)
    elpd_loo: np.ndarray | None = None   # PSIS-LOO per dataset (study(..., loo=True))
    elpd_loo_i: np.ndarray | None = None  # (num_datasets, rows): pointwise, for paired differences


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

    def loo_agreement(self) -> dict | None:
        """How often PSIS-LOO ranks the models as the truth does (``study(..., loo=True)``).

        Per dataset, the truth's ranking orders the models by the RMSE of their
        posterior means over the truth's parameters (the mean of their RMSEs);
        LOO's by elpd_loo.  Returns the shares of datasets where the two agree
        on the best model, and where they agree on the whole order, and how
        often each model is LOO's best.
        """
        if any(f.elpd_loo is None for f in self.fits) or len(self.fits) < 2:
            return None
        names = [f.model for f in self.fits]
        error = np.stack([np.mean(np.stack(list((f.rmse or {}).values())), axis=0) for f in self.fits])
        elpd = np.stack([f.elpd_loo for f in self.fits])
        by_truth, by_loo = np.argsort(error, axis=0), np.argsort(-elpd, axis=0)
        return {"best": float(np.mean(by_truth[0] == by_loo[0])),
                "order": float(np.mean(np.all(by_truth == by_loo, axis=0))),
                "loo_best": {n: float(np.mean(by_loo[0] == i)) for i, n in enumerate(names)},
                "truth_best": {n: float(np.mean(by_truth[0] == i)) for i, n in enumerate(names)}}

    def table(self) -> str:
        """Per model: RMSE of alpha and beta across datasets (mean, sd, 5%, 50%, 95%) and diagnostics."""
        head = (f"{'model':<13}{'':>6}{'mean':>8}{'sd':>8}{'5%':>8}{'50%':>8}{'95%':>8}"
                f"{'accept':>9}{'R-hat>1.01':>12}{'seconds':>9}")
        lines = [head, "-" * len(head)]
        for f in self.fits:
            errors = f.rmse if f.rmse is not None else {"alpha": f.rmse_alpha, "beta": f.rmse_beta}
            for i, (what, v) in enumerate(errors.items()):
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
        agree = self.loo_agreement()
        if agree is not None:
            best = ", ".join(f"{k} {v:.0%}" for k, v in agree["loo_best"].items())
            lines.append(f"leave-one-out (PSIS-LOO) picks the model the truth picks (lowest RMSE) in "
                         f"{agree['best']:.1%} of datasets, the whole order in {agree['order']:.1%}; "
                         f"LOO's best: {best}")
        lines.append("RMSE: root mean square error of the posterior means against the true values "
                     "(alpha_i, beta_i, sigma), per dataset; R-hat>1.01: share of datasets with any parameter's "
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
                                     "acceptance_rate")},
                                 "rmse": {k: np.asarray(v).tolist() for k, v in (f.rmse or {}).items()}}
                       for f in self.fits},
            "hierarchical_wins": self.hierarchical_wins(),
            "loo_agreement": self.loo_agreement(),
            "elpd_loo": {f.model: np.asarray(f.elpd_loo).tolist() for f in self.fits if f.elpd_loo is not None},
        }


@partial(jax.jit, static_argnames=("num_groups", "group_size"))
def _simulate(key, ids, *, num_groups, group_size):
    """Data arrays and truth of datasets ``ids`` (leading dataset axis)."""
    return jax.vmap(lambda d: simulate_arrays(fold_in(key, d), num_groups, group_size))(ids)


def _repeat_chains(tree, num_chains):
    """``(B, ...) -> (B * num_chains, ...)``: each dataset's leaves once per chain."""
    return jax.tree.map(lambda v: jnp.repeat(v, num_chains, axis=0), tree)


def model_key(key: jax.Array, name: str) -> jax.Array:
    """The key :func:`study` gives the model named ``name`` (from the study's ``key``).

    It depends only on ``key`` and the name (CRC-32 of it), so a model's results do not depend
    on which other models run; the model then splits it into ``(init, warm-up, sampling)`` keys
    as :func:`jaxmh.fit` does, and dataset ``d``'s starting values use ``fold_in(init, d)``.
    """
    return fold_in(jax.random.split(key)[1], zlib.crc32(name.encode()) & 0x7FFFFFFF)


def study(
    key: jax.Array,
    num_datasets: int,
    *,
    num_groups: int = 75,
    group_size: int = 5,
    models: Sequence[Callable] = TUTORIAL_MODELS,
    method: str | methods.Method | None = None,
    num_chains: int = 4,
    num_samples: int = 8000,
    num_warmup: int = 2000,
    step_size: Any = None,
    batch_size: int = 64,
    progress: bool | None = None,
    loo: bool = False,
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
        Model builders (callables from a :class:`jaxmh.data.GroupedData` to a
        :class:`jaxmh.models.Model` with ``with_data``), default the tutorial's
        pooled, unpooled and hierarchical models with the tutorial's priors.
        Each is built on every dataset, so data-scaled priors are each
        dataset's own; starting values come from the model built on dataset 0.
    method
        Sampler for every model, as in :func:`jaxmh.fit`; default: each model's
        ``fit`` default (group-blocked for models with groups, adaptive random
        walk otherwise).  ``"rwm"`` is the tutorial's sampler with each model's
        :attr:`~jaxmh.models.Model.default_step_size` (0.125 unpooled, 0.1 otherwise).
    num_chains, num_samples, num_warmup
        Chains per model and dataset; kept draws per chain; warm-up steps
        (10,000 steps in all by default, as in the tutorial).
    step_size
        As :func:`jaxmh.fit`.
    batch_size
        Datasets per compiled run (memory grows with it).  Every batch is full
        (the last one padded with extra datasets, dropped afterwards), so a
        dataset's results depend on ``batch_size`` but not on ``num_datasets``.
    progress
        Progress bar over batches (default: only in a terminal, not under ``CI``).
    loo
        Also compare the models by PSIS-LOO on every dataset (:func:`jaxmh.loo`,
        r_eff = 1): the draws of a batch are then kept (memory: ``batch_size x
        num_chains x num_samples`` draws of every parameter), and
        :meth:`Study.loo_agreement` says how often LOO ranks the models as the
        truth does.

    Returns
    -------
    Study
        ``.table()``, ``.to_dict()``, ``.hierarchical_wins()``, and per model
        (``study["hierarchical"]``) arrays over datasets: ``rmse`` (every truth
        parameter the model has: ``alpha``, ``beta``, ``sigma``), ``rmse_alpha``,
        ``rmse_beta``, ``sigma_mean``, ``max_rhat``, ``acceptance_rate``.

    Examples
    --------
    >>> import jax, jaxmh
    >>> s = jaxmh.study(jax.random.key(0), 8, num_samples=500, num_warmup=500, batch_size=8,
    ...                 models=(jaxmh.models.intercepts, jaxmh.models.hierarchical))
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
    if not callable(models) and any(isinstance(m, str) for m in models):
        warnings.warn("models: pass model builders (e.g. jaxmh.study.TUTORIAL_MODELS, or "
                      "functools.partial(jaxmh.models.hierarchical, priors='tutorial')) rather than names",
                      DeprecationWarning, stacklevel=2)
        models = [partial(registry.builder(m), priors="tutorial") if isinstance(m, str) else m for m in models]
    chosen = comparison.builders(models)
    if method is not None and not isinstance(method, (str, methods.Method)) and not hasattr(method, "step"):
        raise TypeError(f"method must be None, one of {tuple(methods.METHODS)} or a jaxmh.methods.Method, "
                        f"got {method!r}")
    if isinstance(method, str) and method not in methods.METHODS:
        raise ValueError(f"method must be one of {tuple(methods.METHODS)} or None, got {method!r}")

    k_data = jax.random.split(key)[0]
    # Always full batches (the last one padded with extra datasets whose results are dropped):
    # a dataset's chains then run in the same compiled program whatever num_datasets is, so its
    # results are bit for bit the same (XLA may round a batch of another size differently).
    batch = batch_size
    num_batches = -(-num_datasets // batch)
    first = _datasets(k_data, jnp.arange(1, dtype=jnp.uint32), num_groups, group_size)[0][0]
    templates = [_template(b, first) for b in chosen]
    names = comparison.labels(templates)
    if len(set(names)) != len(names) or any("#" in n for n in names):
        raise ValueError(f"models lists a model twice ({[t.name for t in templates]}); a study needs "
                         "models of distinct names")
    missing = [name for name, t in zip(names, templates) if loo and t.pointwise_loglik is None]
    if missing:
        raise ValueError(f"loo: the {', '.join(missing)} model(s) define no pointwise log-likelihood "
                         "(Model.pointwise_loglik), so they cannot be compared by leave-one-out")
    how = {}
    for name, template in zip(names, templates):
        try:
            how[name] = methods.resolve(method, template)
        except ValueError as err:
            raise ValueError(f"method={method!r} cannot sample the {name} model: {err} "
                             "(leave method=None to use each model's default)") from None
    show = progress_mod.wanted(progress)
    bar = progress_mod.Progress(num_batches * len(chosen), show, desc="study")
    results = {name: {} for name in names}
    seconds = {name: 0.0 for name in names}
    done = 0
    for b in range(num_batches):
        ids = jnp.arange(b * batch, (b + 1) * batch, dtype=jnp.uint32)  # the last batch is padded
        datasets, truth = _datasets(k_data, ids, num_groups, group_size)
        for builder, template, name in zip(chosen, templates, names):
            start = time.perf_counter()
            out, built = _fit_batch(model_key(key, name), builder, template, how[name], datasets, ids,
                                    num_chains, num_samples, num_warmup, step_size, loo)
            _score(results[name], out, truth, num_chains, name)
            if loo:
                _score_loo(results[name], out, built, num_chains)
            seconds[name] += time.perf_counter() - start
            done += 1
            bar.update(done)
    bar.close()
    fits = []
    for name in names:
        r = {k: np.concatenate(v)[:num_datasets] for k, v in results[name].items() if k != "rmse"}
        errors = {k: np.concatenate(v)[:num_datasets] for k, v in results[name]["rmse"].items()}
        nan = np.full(num_datasets, np.nan)
        fits.append(ModelStudy(name, how[name].name, errors.get("alpha", nan), errors.get("beta", nan),
                               r.get("sigma_mean", nan), r["max_rhat"], r["acceptance_rate"], seconds[name],
                               errors, r.get("elpd_loo"), r.get("elpd_loo_i")))
    return Study(tuple(fits), num_datasets, num_groups, group_size, num_chains, num_samples, num_warmup)


def _datasets(key, ids, num_groups: int, group_size: int) -> tuple[list, dict]:
    """Datasets ``ids`` as :class:`GroupedData` (on the host) and their truth (arrays over datasets)."""
    arrays, truth = _simulate(key, ids, num_groups=num_groups, group_size=group_size)
    x, y, group = (np.asarray(arrays[k]) for k in ("x", "y", "group"))
    return [GroupedData(x[d], y[d], group[d]) for d in range(x.shape[0])], truth


def _template(builder: Callable, data: GroupedData):
    try:
        model = builder(data)
    except ValueError as err:
        raise ValueError(f"models: {err} (the simulated data have num_groups={data.num_groups})") from None
    if not isinstance(model, Model):
        raise TypeError(f"a model builder must return a jaxmh.models.Model, {builder!r} returned "
                        f"{type(model).__name__}")
    if model.with_data is None or model.data is None:
        raise ValueError(f"models: the {model.name} model has no data/with_data, so a study cannot batch it "
                         "over datasets (see docs/design.md, 'Add a model')")
    return model


def _fit_batch(key, builder, template, method, datasets, ids, num_chains, num_samples, num_warmup,
               step_size, keep_draws: bool = False) -> tuple:
    """Fit one model to a batch of datasets; chains of all datasets on one axis.  ``(output, the model
    built on each dataset)``; the output keeps the draws if ``keep_draws``."""
    num = int(ids.shape[0])
    token = model_common.COMPILED_STATS.set(True)  # many small datasets: one compiled call each
    try:
        built = [builder(d) for d in datasets]
    finally:
        model_common.COMPILED_STATS.reset(token)
    structure = jax.tree_util.tree_structure(template.data)
    for d, model in enumerate(built):
        if jax.tree_util.tree_structure(model.data) != structure:
            raise ValueError(f"the {template.name} model's data differ in structure between datasets; "
                             "a study needs one structure (same priors' families, same shapes)")
    stacked = jax.tree.map(lambda *v: jnp.stack([jnp.asarray(x) for x in v]), *[m.data for m in built])
    k_init, k_warm, k_run = jax.random.split(key, 3)
    positions = jax.vmap(lambda d: template.init(fold_in(k_init, d), num_chains))(ids)
    positions = jax.tree.map(lambda v: v.reshape((num * num_chains,) + v.shape[2:]), positions)
    if step_size is None:
        step_size = DEFAULT_STEP_SIZE if method.tuned else template.default_step_size
    p = program(method, template, positions, step_size=step_size, num_warmup=num_warmup,
                data=_repeat_chains(stacked, num_chains))
    check_initial(positions, p.states.logdensity)
    chain_ids = (ids[:, None] * num_chains + jnp.arange(num_chains, dtype=jnp.uint32)).reshape(-1)
    config = _loop.RunConfig(num_warmup, num_samples, store="both" if keep_draws else "moments")
    out = _loop.run(p, config, warm_key=k_warm, run_key=k_run, chain_ids=chain_ids)
    if p.emit is not _loop.identity and out.draws is not None:   # the kernel's layout back to the parameters
        out = out._replace(draws=jax.vmap(jax.vmap(p.emit))(out.draws))
    return out, built


@lru_cache(maxsize=16)
def _pointwise(with_data: Callable) -> Callable:
    """``(data, draws) -> (chain, draw, row)`` log-likelihood, compiled once per model (data as an argument)."""
    return jax.jit(lambda data, draws: jax.vmap(jax.vmap(with_data(data).pointwise_loglik))(draws))


def _score_loo(into: dict, out: "_loop.Output", built: list, num_chains: int) -> None:
    """PSIS-LOO of every dataset of a batch (its chains' draws, its own model's pointwise log-likelihood)."""
    from jaxmh.psis_loo import loo

    elpd, pointwise = [], []
    values_of = _pointwise(built[0].with_data)
    for d, model in enumerate(built):
        draws = jax.tree.map(lambda v: v[d * num_chains:(d + 1) * num_chains], out.draws)
        result = loo(np.asarray(values_of(model.data, draws), np.float64), warn=False)
        elpd.append(result.elpd_loo)
        pointwise.append(result.elpd_i)
    into.setdefault("elpd_loo", []).append(np.asarray(elpd))
    into.setdefault("elpd_loo_i", []).append(np.stack(pointwise))


def _score(into: dict, out: "_loop.Output", truth: Mapping, num_chains: int, name: str) -> None:
    """Posterior means -> RMSE against every truth parameter the model has, R-hat and acceptance per dataset."""
    num = int(np.shape(next(iter(truth.values())))[0])
    moments = jax.vmap(moments_of)(jax.tree.map(lambda v: v[: num * num_chains], out.welford))
    by_set = lambda v: np.asarray(v, np.float64).reshape((num, num_chains) + np.shape(v)[1:])  # noqa: E731
    count = by_set(moments.count)
    mean = {k: by_set(v) for k, v in moments.mean.items()}
    var = {k: by_set(v) for k, v in moments.variance.items()}
    post = {k: v.mean(axis=1) for k, v in mean.items()}   # equal counts: mean of chain means
    errors = into.setdefault("rmse", {})
    for k, true in truth.items():
        if k in post:
            true = np.asarray(true, np.float64)  # (num, *shape)
            est = comparison.truth_shaped(k, post[k], true, name, batch=1)
            errors.setdefault(k, []).append(np.sqrt(np.mean((est - true).reshape(num, -1) ** 2, axis=1)))
    if "sigma" in post:
        into.setdefault("sigma_mean", []).append(post["sigma"].reshape(num))
    rhats = []
    for d in range(num):
        worst = [np.nanmax(np.atleast_1d(diagnostics.rhat_from_moments(
            count[d], mean[k][d].reshape(num_chains, -1), var[k][d].reshape(num_chains, -1))))
            for k in mean]
        rhats.append(max(worst))
    into.setdefault("max_rhat", []).append(np.asarray(rhats))
    blocks = out.blocks
    rate = np.asarray(out.accepted[: num * num_chains], np.float64) / (count.reshape(-1) * blocks)
    into.setdefault("acceptance_rate", []).append(rate.reshape(num, num_chains).mean(axis=1))
