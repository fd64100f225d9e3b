"""Per-layer curvature (diagonal blocks) and curvature recorded during training.

**Diagonal blocks.** Split ``θ = (θ_1, …, θ_L)`` by layer. The block ``C_ℓℓ = ∂²L/∂θ_ℓ²`` (or the
Gauss-Newton / Fisher block ``J_ℓᵀ Λ J_ℓ``) acts on ``θ_ℓ`` by ``v_ℓ ↦ [C E_ℓ v_ℓ]_ℓ`` with ``E_ℓ``
the embedding that puts zeros in every other layer; its quadratic form is
``v_ℓᵀ C_ℓℓ v_ℓ = (E_ℓ v_ℓ)ᵀ C (E_ℓ v_ℓ)``. Trace, top eigenvalue and spectral density of each
block come from the same estimators as for the whole matrix, on the ``P_ℓ``-dimensional space of
the layer (Σ_ℓ tr C_ℓℓ = tr C). Per-layer Hessian spectra of this kind: Sankar et al. 2021,
arXiv:2010.02203; Yao et al. 2020 (PyHessian), arXiv:1912.07145.

**Recording.** :func:`curvature_recorder` returns a ``record(params)`` for :func:`fpjax.train.fit`
(``record=``, ``record_every=k``): every ``k`` steps a few Lanczos steps (top eigenvalue, the
sharpness of Cohen et al. 2021, arXiv:2103.00065) and a few Lanczos-deflated Hutchinson probes
(trace). ``fit``'s ``record`` is a function of the parameters only, so the Lanczos runs cannot be
warm-started from the previous record's Ritz vector; each run starts from the same fixed random
vector (drawn from ``key``), so consecutive records differ only through the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src import checks, krylov
from fpjax._src.array_types import PyTree
from fpjax._src.hessian import estimators, operators, problems


def _default_group(path) -> str:
    """Layer name of a leaf: ``['layers'][j]`` for fpjax MLPs, the top-level key otherwise."""
    depth = 1
    if len(path) >= 2 and getattr(path[0], "key", None) == "layers":
        depth = 2
    return jax.tree_util.keystr(tuple(path[:depth]))


def layer_groups(params: PyTree, group_by: Callable | None = None) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``((name, leaf indices), …)`` in first-appearance order of the flattened ``params``.

    Default grouping: ``params["layers"][j]`` for :func:`fpjax.models.mlp` parameters, the top-level
    keys otherwise (Flax modules such as ``Conv_0``, ``BatchNorm_0``, ``Dense_0`` of the CNN zoo).
    ``group_by(path) -> str`` overrides it (``path`` as in ``jax.tree_util.tree_flatten_with_path``).

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import layer_groups
      >>> p = {"layers": [{"w": jnp.ones((1, 2)), "b": jnp.ones(2)}, {"w": jnp.ones((2, 1))}]}
      >>> layer_groups(p)
      (("['layers'][0]", (0, 1)), ("['layers'][1]", (2,)))
    """
    if group_by is not None and not callable(group_by):
        raise TypeError(f"group_by must be callable path -> str layer name, or None; got {type(group_by).__name__}")
    fn = _default_group if group_by is None else group_by
    groups: dict[str, list[int]] = {}
    for i, (path, _) in enumerate(jax.tree_util.tree_flatten_with_path(params)[0]):
        name = fn(path)
        if not isinstance(name, str):
            raise TypeError(f"group_by must return a str layer name; got {type(name).__name__}")
        groups.setdefault(name, []).append(i)
    items = list(groups.items())
    if group_by is None:  # dicts flatten in sorted key order ("Conv_10" < "Conv_2"); restore creation order
        items.sort(key=lambda kv: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", kv[0])])
    return tuple((k, tuple(v)) for k, v in items)


def _block(mv, qf, params, idx):
    """Block operator of the leaves ``idx``: ``(mv_ℓ, qf_ℓ, like_ℓ)`` on a list of those leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    like = [leaves[i] for i in idx]

    def embed(q):
        full = [jnp.zeros_like(a) for a in leaves]
        for i, a in zip(idx, q):
            full[i] = a
        return jax.tree_util.tree_unflatten(treedef, full)

    def extract(t):
        ls = jax.tree_util.tree_leaves(t)
        return [ls[i] for i in idx]

    return (lambda q: extract(mv(embed(q)))), (lambda z: qf(embed(z))), like


class LayerCurvature(NamedTuple):
    """Output of :func:`layer_curvature`: one row per layer (``L`` layers).

    names: ``L`` layer names.
    num_params: ``(L,)`` parameters per layer ``P_ℓ``.
    trace, standard_error: ``(L,)`` Lanczos-deflated Hutchinson estimates of ``tr C_ℓℓ`` and their
      standard errors (exact when ``num_iters >= P_ℓ``; ``trace_se`` is the deprecated spelling).
    top_eigenvalue: ``(L,)`` largest Ritz value of each block.
    nodes, weights: ``(L, n_v, m)`` SLQ nodes and weights of each block (``n_v = 1 +
      density_probes``; the first sample is the summary's own Lanczos run; for layers with
      ``P_ℓ < m`` the surplus nodes have weight 0).
    curvature: the matrix (``"hessian" | "ggn" | "fisher" | "empirical_fisher"``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import layer_curvature
      >>> p = {"a": jnp.zeros(2), "b": jnp.zeros(1)}
      >>> loss = lambda q: jnp.sum(q["a"] ** 2) + 3 * jnp.sum(q["b"] ** 2)    # blocks 2·I₂ and 6
      >>> r = layer_curvature(loss, p, key=jax.random.key(0), num_probes=2, num_iters=2)
      >>> r.names, r.num_params.tolist(), r.nodes.shape, r.curvature
      (("['a']", "['b']"), [2, 1], (2, 1, 2), 'hessian')
      >>> [round(float(t), 4) for t in r.trace], [round(float(t), 4) for t in r.top_eigenvalue]
      ([4.0, 6.0], [2.0, 6.0])
      >>> print(r.table().splitlines()[0])
      layer   params        trace       ± se  top eigenvalue

    References:
      Sankar et al. 2021, arXiv:2010.02203; Yao et al. 2020 (PyHessian), arXiv:1912.07145.
    """

    names: tuple
    num_params: np.ndarray
    trace: jax.Array
    standard_error: jax.Array
    top_eigenvalue: jax.Array
    nodes: jax.Array
    weights: jax.Array
    curvature: str

    @property
    def trace_se(self) -> jax.Array:
        """Deprecated: ``standard_error``."""
        return estimators.deprecated_field(self, "trace_se", "standard_error")

    def table(self) -> str:
        """A plain-text table: layer, ``P_ℓ``, trace ± se, top eigenvalue."""
        w = max(5, max(len(n) for n in self.names))
        rows = [f"{'layer':<{w}} {'params':>8} {'trace':>12} {'± se':>10} {'top eigenvalue':>15}"]
        for i, n in enumerate(self.names):
            rows.append(
                f"{n:<{w}} {int(self.num_params[i]):>8d} {float(self.trace[i]):>12.5g} "
                f"{float(self.standard_error[i]):>10.2g} {float(self.top_eigenvalue[i]):>15.5g}"
            )
        return "\n".join(rows)

    def plot(self, **kwargs):
        """Figure: trace and top eigenvalue per layer, and each layer's density (see
        :func:`fpjax.hessian.plot_layer_curvature`)."""
        from fpjax._src.curvature_plots import plot_layer_curvature

        return plot_layer_curvature(self, **kwargs)


@partial(jax.jit, static_argnums=(0, 4, 5, 6, 7, 8))
def _layers_jit(static, data, params, key, groups, num_probes, num_iters, density_probes, curvature):
    bad = problems.params_bad(params)
    mv = operators.tree_matvec(static, data, params, curvature)
    qf = operators.tree_quadform(static, data, params, curvature)
    rows = []
    for j, (_, idx) in enumerate(groups):
        mv_l, qf_l, like = _block(mv, qf, params, idx)
        p_l = sum(int(np.prod(a.shape)) for a in like)
        m = min(num_iters, p_l)
        kj = jax.random.fold_in(key, j)
        s = estimators.summary_tree(mv_l, qf_l, like, kj, num_probes, m, 1, krylov.default_batch_size(num_probes))
        nodes, weights = s.ritz_values[None], s.ritz_weights[None]
        if density_probes:
            q = krylov.slq_tree(
                mv_l, like, jax.random.fold_in(kj, 1), density_probes, m, krylov.default_batch_size(density_probes)
            )
            nodes, weights = (jnp.concatenate([nodes, q.nodes]), jnp.concatenate([weights, q.weights]))
        pad = num_iters - m
        if pad:
            nodes = jnp.pad(nodes, ((0, 0), (0, pad)), mode="edge")
            weights = jnp.pad(weights, ((0, 0), (0, pad)))
        rows.append((s.trace, s.standard_error, s.top_eigenvalues[0], nodes, weights))
    return tuple(jnp.stack(c) for c in zip(*rows)), bad


def layer_curvature(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    curvature: str = "hessian",
    num_probes: int = 20,
    num_iters: int = 20,
    density_probes: int = 0,
    group_by: Callable | None = None,
) -> LayerCurvature:
    """Trace, top eigenvalue and spectral density of every layer's diagonal block of ``C``.

    For each layer ``ℓ`` (see :func:`layer_groups`) one jitted call runs
    :func:`hessian_summary`'s estimator on the block ``C_ℓℓ`` (``min(num_iters, P_ℓ)`` Lanczos steps,
    ``num_probes`` deflated probes) and ``density_probes`` more SLQ probes. Works for the Hessian and
    (with a :class:`ModelLoss`) the Gauss-Newton and Fisher blocks; for the CNN zoo pass the eval-mode
    ``model.eval_fn(variables)`` (batch statistics frozen) to :func:`model_loss`.

    Args:
      loss_fn: ``params -> scalar``, a :class:`BatchedLoss` or a :class:`ModelLoss`.
      params: pytree of float arrays.
      key: PRNG key (layer ``j`` uses ``fold_in(key, j)``).
      curvature: ``"hessian" | "ggn" | "fisher" | "empirical_fisher"``.
      num_probes: Hutchinson probes per layer.
      num_iters: Lanczos steps per layer (capped at ``P_ℓ``).
      density_probes: extra SLQ probes per layer for the densities (0: the summary's one sample).
      group_by: ``path -> layer name``; default as in :func:`layer_groups`.

    Returns:
      :class:`LayerCurvature` (``.table()`` text, ``.plot()`` figure).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import layer_curvature
      >>> p = {"a": jnp.zeros(2), "b": jnp.zeros(1)}
      >>> loss = lambda q: jnp.sum(q["a"] ** 2) + 3 * jnp.sum(q["b"] ** 2)    # blocks 2·I₂ and 6
      >>> r = layer_curvature(loss, p, key=jax.random.key(0), num_probes=2, num_iters=2)
      >>> r.names, [round(float(t), 4) for t in r.trace], [round(float(t), 4) for t in r.top_eigenvalue]
      (("['a']", "['b']"), [4.0, 6.0], [2.0, 6.0])

    References:
      Sankar et al. 2021, arXiv:2010.02203; Martens 2020, arXiv:1412.1193.
    """
    p = problems.check_problem(loss_fn, params, curvature)
    checks.check_key(key)
    isz = estimators._itemsize(params)
    num_probes = krylov.check_num_probes(num_probes, isz)
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    krylov.check_basis_memory(min(num_iters, p), p, isz, "num_iters", krylov.DEFAULT_BATCH_SIZE)
    density_probes = checks.check_positive_int(density_probes, "density_probes", minimum=0)
    groups = layer_groups(params, group_by)
    leaves = jax.tree_util.tree_leaves(params)
    sizes = np.array([sum(int(np.prod(np.shape(leaves[i]))) for i in idx) for _, idx in groups])
    keep = [g for g, s in zip(groups, sizes) if s > 0]
    static, data = problems.split_loss(loss_fn)
    tr, se, top, nodes, weights = estimators._finite(
        _layers_jit(static, data, params, key, tuple(keep), num_probes, num_iters, density_probes, curvature)
    )
    return LayerCurvature(tuple(n for n, _ in keep), sizes[sizes > 0], tr, se, top, nodes, weights, curvature)


class CurvatureRecord(NamedTuple):
    """What :func:`curvature_recorder`'s ``record(params)`` returns (scalars; stacked by ``fit``).

    top_eigenvalue: largest Ritz value after ``num_iters`` steps (a lower bound on ``λ_max``
      that is tight once the top eigenvalue is separated).
    trace, standard_error: Lanczos-deflated Hutchinson estimate of ``tr C`` and its standard error
      (``trace_se`` is the deprecated spelling of ``standard_error``).

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from fpjax.hessian import curvature_recorder
      >>> from fpjax.train import fit
      >>> x = jnp.linspace(-1, 1, 8)[:, None]
      >>> loss = lambda p: 0.5 * jnp.mean((x[:, 0] * p[0] - 2 * x[:, 0]) ** 2)   # H = mean x² = 3/7
      >>> rec = curvature_recorder(loss, key=jax.random.key(0), num_iters=1, num_probes=2)
      >>> r = fit(lambda p, x: x * p, jnp.zeros(1), x, 2 * x, optimizer=optax.sgd(0.5), steps=4,
      ...         record=rec, record_every=2)
      >>> r.records.top_eigenvalue.shape, [round(float(v), 4) for v in r.records.top_eigenvalue]
      ((3,), [0.4286, 0.4286, 0.4286])
      >>> [round(float(v), 4) for v in r.records.trace], [float(v) for v in r.records.standard_error]
      ([0.4286, 0.4286, 0.4286], [0.0, 0.0, 0.0])

    References:
      Cohen et al. 2021, arXiv:2103.00065 (sharpness during training).
    """

    top_eigenvalue: jax.Array
    trace: jax.Array
    standard_error: jax.Array

    @property
    def trace_se(self) -> jax.Array:
        """Deprecated: ``standard_error``."""
        return estimators.deprecated_field(self, "trace_se", "standard_error")


@checks.renamed_keyword(lanczos_steps="num_iters")
def curvature_recorder(
    loss_fn: Callable,
    *,
    key: jax.Array,
    num_iters: int = 10,
    num_probes: int = 10,
    curvature: str = "hessian",
) -> Callable[[PyTree], CurvatureRecord]:
    """A ``record(params) -> CurvatureRecord`` for ``fpjax.train.fit(record=..., record_every=k)``.

    Each call runs ``num_iters`` Lanczos steps (top eigenvalue) and ``num_probes`` quadratic forms
    on the deflated complement (trace): ``num_iters + num_probes`` products, all inside ``fit``'s
    jitted scan. Combine with other records by a tuple, e.g.
    ``record=lambda p: (rec(p), model.apply(p, x_train)[:, 0])``.

    Args:
      loss_fn: the training loss ``params -> scalar`` (closing over the data), a :class:`BatchedLoss`
        or a :class:`ModelLoss`.
      key: PRNG key; the same start vector and probes are used at every record.
      num_iters: Lanczos steps ``1 <= m <= P`` (checked when first traced; default 10).
        ``lanczos_steps`` is its deprecated spelling.
      num_probes: deflated Hutchinson probes ``>= 1``.
      curvature: ``"hessian" | "ggn" | "fisher" | "empirical_fisher"``.

    Returns:
      ``record(params) -> CurvatureRecord`` (jittable, vmappable).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import curvature_recorder
      >>> rec = curvature_recorder(lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 4.0) * p ** 2),
      ...                          key=jax.random.key(0), num_iters=3, num_probes=2)
      >>> r = jax.jit(rec)(jnp.zeros(3))
      >>> round(float(r.top_eigenvalue), 4), round(float(r.trace), 4)
      (3.0, 6.0)

    References:
      Cohen et al. 2021, arXiv:2103.00065 (sharpness during training).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable params -> scalar; got {type(loss_fn).__name__}")
    checks.check_key(key)
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    num_probes = checks.check_positive_int(num_probes, "num_probes")
    curvature = checks.check_choice(curvature, "curvature", problems.CURVATURES)
    if curvature != "hessian" and not isinstance(loss_fn, problems.ModelLoss):
        raise TypeError(f"curvature={curvature!r} needs a ModelLoss (fpjax.hessian.model_loss)")
    static, data = problems.split_loss(loss_fn)
    batch_size = krylov.default_batch_size(num_probes)

    def record(params):
        p = problems.check_params(params)
        if num_iters > p:
            raise ValueError(f"num_iters must be <= the number of parameters ({p}); got {num_iters}")
        mv = operators.tree_matvec(static, data, params, curvature)
        qf = operators.tree_quadform(static, data, params, curvature)
        s = estimators.summary_tree(mv, qf, params, key, num_probes, num_iters, 1, batch_size)
        return CurvatureRecord(s.top_eigenvalues[0], s.trace, s.standard_error)

    return record
