"""The kernel contract: what the drivers (:func:`jaxmh.sample`, :func:`jaxmh.fit`) need from a kernel.

A kernel is two things:

* a :class:`Kernel`: pure functions ``init(position, target) -> state`` and
  ``step(key, state, target, params) -> (state, info)``, where ``target`` is
  what the kernel needs from a model (its log-density, or its group split) and
  ``params`` the kernel's tunable parameter pytree (its proposal sds); plus
  what it tunes (``adaptation``) and what it needs from a model (``target_of``);
* a :class:`SamplingAlgorithm`: the kernel closed over one target and one
  ``params``, as users build it (``jaxmh.rwm(logdensity, step_size)``,
  ``jaxmh.kernels.blocked(model.split, step_size)``), with ``init(position)``
  and ``step(key, state)`` as in BlackJAX, and the open form
  (``kernel``, ``target``, ``params``) that the drivers run.

The drivers never look at a kernel's type: they call these functions.  A
parameter leaf may carry a leading chain axis (per-chain parameters, as
:func:`jaxmh.fit` tunes them); the kernel's ``per_chain`` says how its
parameters broadcast to ``(num_chains, ...)``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

__all__ = ["Kernel", "SamplingAlgorithm", "Representation"]

PyTree = Any


class Representation(NamedTuple):
    """How a kernel runs on another layout of the position (e.g. one flat vector per chain).

    ``ravel``/``unravel`` map one chain's position (and, alike, a parameter
    pytree shaped like it) to the layout and back; ``target`` is the target in
    that layout.  The driver makes the kernel's states in the model's layout
    and ravels their ``position``, so the other fields of a state must not
    depend on the layout.  The draws a chain makes must not change.
    """

    target: Any
    ravel: Callable[[PyTree], Any]
    unravel: Callable[[Any], PyTree]


class Kernel(NamedTuple):
    """A transition kernel as the drivers see it.

    name
        Short name, used in messages and progress bars.
    init
        ``init(position, target) -> state``; the state has ``position`` and ``logdensity``.
    step
        ``step(key, state, target, params) -> (state, info)``, pure; ``info``
        has ``acceptance_prob`` and ``is_accepted`` (one entry per accept/reject
        decision).  ``params`` may be traced.
    target_of
        ``target_of(model) -> target``: what the kernel needs from a
        :class:`jaxmh.models.Model` (raise ``ValueError`` if the model lacks it).
    check
        ``check(target, params, position, num_chains=None)``: validate
        ``params`` against one chain's ``position`` in Python (raise
        ``ValueError``/``TypeError``); per-chain leaves must have ``num_chains`` rows.
    per_chain
        ``per_chain(params, position, num_chains) -> params`` with a leading
        chain axis on every leaf (``position``: one chain's).
    adaptation
        ``adaptation(target, position, num_steps) -> adapter`` with pure
        ``init(position, initial_sd, unit)``, ``params(state)``,
        ``update(state, t, position, info)`` and ``final(state) -> params``
        (see :class:`jaxmh.adaptation.ScaleAdaptation`); ``None`` if the
        kernel cannot be tuned.
    representation
        ``representation(target, position) -> Representation | None``: an
        optional faster layout the driver may run the kernel on.
    build
        ``build(target, params) -> SamplingAlgorithm``: the public constructor,
        so a tuned kernel can be rebuilt from a fit's ``step_size``.
    """

    name: str
    init: Callable
    step: Callable
    target_of: Callable
    check: Callable
    per_chain: Callable
    adaptation: Callable | None = None
    representation: Callable | None = None
    build: Callable | None = None


class SamplingAlgorithm(NamedTuple):
    """A kernel closed over its target and parameters.

    ``init(position) -> state`` and ``step(key, state) -> (state, info)``.
    ``kernel``, ``target`` and ``params`` are the open form the drivers run
    (``None`` for a hand-made algorithm, which the drivers run through
    ``init``/``step`` alone, untuned).
    """

    init: Callable[[PyTree], Any]
    step: Callable[[jax.Array, Any], tuple]
    kernel: Kernel | None = None
    target: Any = None
    params: PyTree = None
