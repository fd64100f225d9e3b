"""Tangent kernels: empirical NTK, infinite-width NTK and the linearized MSE flow.

Empirical NTK
-------------
``K_θ(x, x')_{ab} = Σ_p ∂f_a(x)/∂θ_p · ∂f_b(x')/∂θ_p`` for a model ``f(θ, x) ∈ R^c``.

Two routes compute it:

* **neural-tangents** (``nt.empirical_ntk_fn``, implementation 1 = Jacobian contraction or
  2 = NTK-vector products) for any pure ``apply(params, x)``: MLPs, Flax CNNs (pass
  ``lambda p, x: module.apply({"params": p, **other_collections}, x)`` so only the trainable
  collection is differentiated), anything JAX can differentiate. Cost ``O(N²·P)`` for ``P``
  parameters.
* a **fast exact path** for :func:`fpjax.models.mlp` (and :func:`~fpjax.models.two_layer_relu`,
  and :func:`~fpjax.models.asi` of either). With pre-activations
  ``z_l = s_l a_{l−1} W_l + t_l b_l``, ``a_l = σ(z_l)`` and back-propagated pre-activation
  gradients ``δ_l = ∂f/∂z_l``, the chain rule gives ``∂f/∂W_l = s_l a_{l−1} ⊗ δ_l`` and
  ``∂f/∂b_l = t_l δ_l``, so

      ``K(x, x') = Σ_l (s_l² a_{l−1}(x)·a_{l−1}(x') + t_l²) · δ_l(x)·δ_l(x')``

  (``s_l = σ_w/√n_{l−1}``, ``t_l = σ_b`` for ``init="ntk"``; ``s_l = t_l = 1`` otherwise; no
  ``t_l²`` term without biases; the random-Fourier-feature input layer is not trained and only
  supplies ``a_0``). Cost ``O(N²·Σ_l n_l)`` instead of ``O(N²·P)``.

Output axes follow neural-tangents' convention: with outputs ``(n, c)``, ``trace_axes=(-1,)``
(default) returns ``(n1, n2)`` = the **mean** over ``a`` of ``K_{aa}`` (neural-tangents divides
the trace by ``c``; for scalar outputs this is just ``K``), ``diagonal_axes=(-1,)`` returns
``(n1, n2, c)`` = ``K_{aa}``, and ``trace_axes=()`` the full ``(n1, n2, c, c)``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src import checks, kernel_linalg
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.models import Model

__all__ = [
    "empirical_ntk",
    "empirical_ntk_fn",
    "infinite_ntk",
    "kernel_flow",
    "predict_linearized",
    "FlowResult",
    "IMPLEMENTATIONS",
    "fast_path_supported",
]

IMPLEMENTATIONS = ("auto", "fast", "nt", 1, 2)

_HI = jax.lax.Precision.HIGHEST  # kernels are theory objects: no TF32/bf16 matmuls on accelerators


# ----------------------------------------------------------------------------------------------
# argument handling
# ----------------------------------------------------------------------------------------------


def _norm_axes(axes, name: str) -> tuple[int, ...]:
    if axes is None:
        return ()
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        return (int(axes),)
    try:
        if isinstance(axes, (str, bytes)) or any(isinstance(a, (bool, str, float)) for a in axes):
            raise TypeError
        out = tuple(int(a) for a in axes)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a sequence of ints (output axes); got {axes!r}") from None
    return out


def _check_out_axes(trace_axes, diagonal_axes, out_ndim: int) -> None:
    """Axes index the per-sample outputs ``(n, c, ...)``: each must be one of ``1..out_ndim-1``
    (or negative) and name no axis twice; the batch axis 0 cannot be traced or diagonalised."""
    for name, axes in (("trace_axes", trace_axes), ("diagonal_axes", diagonal_axes)):
        for a in axes:
            if not -out_ndim < a < out_ndim or a % out_ndim == 0:
                raise ValueError(
                    f"{name} must be output axes in 1..{out_ndim - 1} (or -{out_ndim - 1}..-1) of "
                    f"outputs of rank {out_ndim} (axis 0 is the batch); got {name}={axes}"
                )
    canon = [a % out_ndim for a in (*trace_axes, *diagonal_axes)]
    if len(set(canon)) != len(canon):
        raise ValueError(
            f"trace_axes and diagonal_axes must name distinct axes; got trace_axes={trace_axes}, "
            f"diagonal_axes={diagonal_axes}"
        )


def _check_implementation(implementation) -> Any:
    if isinstance(implementation, bool) or implementation not in IMPLEMENTATIONS:
        if implementation == 3:
            raise ValueError(
                "implementation=3 (neural-tangents structured derivatives) does not work under "
                "the installed JAX; use 'auto', 'fast', 'nt', 1 or 2"
            )
        raise ValueError(
            f"unknown implementation {implementation!r}; expected one of {', '.join(map(repr, IMPLEMENTATIONS))}"
        )
    return implementation


def _check_inputs(x1, x2, *, fast: bool):
    x1 = checks.as_array(x1, "x1")
    checks.check_no_complex(x1, "x1")
    if x1.ndim < 2:
        raise ValueError(f"x1 must have shape (n, ...) with a feature axis, e.g. (n, d); got shape {tuple(x1.shape)}")
    checks.check_ndim(x1, "x1", x1.ndim, shape_hint="(n, ...)")
    checks.check_finite(x1, "x1")
    if x2 is not None:
        x2 = checks.as_array(x2, "x2")
        checks.check_no_complex(x2, "x2")
        if x2.ndim != x1.ndim or x2.shape[1:] != x1.shape[1:]:
            raise ValueError(
                f"x2 must have the same per-sample shape as x1 {tuple(x1.shape[1:])}; got shape {tuple(x2.shape)}"
            )
        checks.check_ndim(x2, "x2", x2.ndim, shape_hint="(n, ...)")
        checks.check_finite(x2, "x2")
    if fast and x1.ndim != 2:
        raise ValueError(f"x1 must have shape (n, d) for an fpjax MLP; got shape {tuple(x1.shape)}")
    return x1, x2


def _blocks(n: int, size: int | None) -> list[tuple[int, int]]:
    if size is None or size >= n:
        return [(0, n)]
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _blocked(fn: Callable, x1, x2, batch_size: int | None):
    """Evaluate ``fn(x1_block, x2_block)`` over row blocks and assemble the ``(n1, n2, ...)`` result.

    Kernels are pairwise, so blocks are independent; at most two block shapes per axis occur, so at
    most four compilations of ``fn``.
    """
    same = x2 is None
    x2_ = x1 if same else x2
    if batch_size is None or (batch_size >= x1.shape[0] and batch_size >= x2_.shape[0]):
        return fn(x1, None if same else x2)
    rows = []
    for i0, i1 in _blocks(x1.shape[0], batch_size):
        cols = [fn(x1[i0:i1], x2_[j0:j1]) for j0, j1 in _blocks(x2_.shape[0], batch_size)]
        rows.append(jnp.concatenate(cols, axis=1))
    return jnp.concatenate(rows, axis=0)


# ----------------------------------------------------------------------------------------------
# fast exact path: fpjax MLPs, the LFP two-layer ReLU network, ASI of either
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _MlpSpec:
    n_layers: int
    activation: str
    ntk_param: bool
    sigma_w: float
    sigma_b: float
    bias: bool
    gaussian_s: float
    sine_omega0: float
    fourier: bool


def _model_class():
    from fpjax._src.models import Model

    return Model


def _fast_spec(model) -> tuple[str, Any, bool] | None:
    """``(kind, spec, asi)`` when the fast path applies to ``model``, else None."""
    if not isinstance(model, _model_class()):
        return None
    cfg = model.config or {}
    kind = cfg.get("kind")
    asi = bool(cfg.get("asi", False))
    if kind == "mlp":
        spec = _MlpSpec(
            n_layers=len(cfg["widths"]),
            activation=cfg["activation"],
            ntk_param=cfg["init"] == "ntk",
            sigma_w=float(cfg["sigma_w"]),
            sigma_b=float(cfg["sigma_b"]),
            bias=bool(cfg["bias"]),
            gaussian_s=float(cfg["gaussian_s"]),
            sine_omega0=float(cfg["sine_omega0"]),
            fourier=cfg.get("fourier_features") is not None,
        )
        return "mlp", spec, asi
    if kind == "two_layer_relu":
        return "two_layer_relu", None, asi
    return None


def fast_path_supported(model) -> bool:
    """True when :func:`empirical_ntk` has an exact fast path for ``model``.

    The fast path covers :func:`fpjax.models.mlp`, :func:`fpjax.models.two_layer_relu` and
    :func:`fpjax.models.asi` of either; any other model or plain ``apply`` function goes through
    neural-tangents.

    Args:
      model: a :class:`fpjax.models.Model` or any ``apply`` callable.

    Returns:
      bool.

    Examples:
      >>> from fpjax.models import asi, mlp, two_layer_relu
      >>> fast_path_supported(mlp((8, 1), "tanh")), fast_path_supported(asi(two_layer_relu(4)))
      (True, True)
      >>> fast_path_supported(lambda params, x: x @ params)
      False
    """
    return _fast_spec(model) is not None


def _check_mlp_params(spec: _MlpSpec, params, d: int, name: str = "params") -> None:
    if not isinstance(params, dict) or "layers" not in params:
        raise TypeError(
            f"{name} must be the dict {{'layers': [...]}} returned by the model's init; got {type(params).__name__}"
        )
    layers = params["layers"]
    if len(layers) != spec.n_layers:
        raise ValueError(f"{name}['layers'] must have {spec.n_layers} layers for this model; got {len(layers)}")
    n_in = 2 * params["ff"]["B"].shape[1] if spec.fourier else d
    if spec.fourier and params["ff"]["B"].shape[0] != d:
        raise ValueError(f"x must have {params['ff']['B'].shape[0]} features for this model's Fourier layer; got {d}")
    for j, layer in enumerate(layers):
        w = layer["w"]
        if w.ndim != 2 or w.shape[0] != n_in:
            raise ValueError(f"{name}['layers'][{j}]['w'] must have shape ({n_in}, n_out); got {tuple(w.shape)}")
        if spec.bias != ("b" in layer):
            raise ValueError(
                f"{name}['layers'][{j}] must {'' if spec.bias else 'not '}have a bias 'b' (model bias={spec.bias})"
            )
        n_in = w.shape[1]


def _mlp_terms(spec: _MlpSpec, params, x):
    """Forward and backward pass: per layer ``(s_l a_{l−1}, δ_l)``.

    Returns a list over layers of ``(sa, delta)`` with ``sa: (n, n_{l−1})`` the scaled layer input
    and ``delta: (n, n_l, c)`` the gradient of the outputs w.r.t. the layer's pre-activations
    (``None`` for the last layer, where it is the identity).
    """
    from fpjax._src.models import activation_fn

    phi = activation_fn(spec.activation, gaussian_s=spec.gaussian_s, sine_omega0=spec.sine_omega0)
    layers = params["layers"]
    h = x
    if spec.fourier:
        proj = 2.0 * jnp.pi * jnp.matmul(h, jax.lax.stop_gradient(params["ff"]["B"]), precision=_HI)
        h = jnp.concatenate([jnp.sin(proj), jnp.cos(proj)], axis=-1)
    scaled_inputs, dphis = [], []
    for j, layer in enumerate(layers):
        w = layer["w"]
        s = spec.sigma_w / math.sqrt(w.shape[0]) if spec.ntk_param else 1.0
        t = spec.sigma_b if spec.ntk_param else 1.0
        sa = s * h
        scaled_inputs.append(sa)
        z = jnp.matmul(sa, w, precision=_HI)
        if spec.bias:
            z = z + t * layer["b"]
        if j < len(layers) - 1:
            # σ'(z) exactly as autodiff sees it (elementwise jvp with unit tangent), e.g. relu'(0) = 0.
            h, dphi = jax.jvp(phi, (z,), (jnp.ones_like(z),))
            dphis.append(dphi)
    deltas = [None] * len(layers)
    # δ_{L−1} = σ'(z_{L−1}) ⊙ (s_L W_L)  (n, n_{L−1}, c); then δ_l = σ'(z_l) ⊙ (s_{l+1} W_{l+1} δ_{l+1}).
    back = None
    for j in range(len(layers) - 2, -1, -1):
        w_next = layers[j + 1]["w"]
        s_next = spec.sigma_w / math.sqrt(w_next.shape[0]) if spec.ntk_param else 1.0
        if back is None:
            back = jnp.broadcast_to((s_next * w_next)[None], (x.shape[0],) + w_next.shape)
        else:
            back = jnp.einsum("jk,nkc->njc", s_next * w_next, back, precision=_HI)
        back = dphis[j][:, :, None] * back
        deltas[j] = back
    return list(zip(scaled_inputs, deltas))


def _gram(a, b):
    return jnp.matmul(a, b.T, precision=_HI)


def _delta_gram(d1, d2, mode: str):
    """``Σ_j δ_{j a}(x) δ_{j b}(x')`` reduced per ``mode`` (trace = mean over a = b)."""
    n1, w, c = d1.shape
    if mode == "trace":
        return _gram(d1.reshape(n1, w * c), d2.reshape(d2.shape[0], w * c)) / c
    if mode == "diagonal":
        return jnp.einsum("nja,mja->nma", d1, d2, precision=_HI)
    return jnp.einsum("nja,mjb->nmab", d1, d2, precision=_HI)


def _identity_term(g, c: int, mode: str, dtype):
    """Contribution of the last layer, whose δ is the identity: ``g ⊗ I_c`` reduced per mode."""
    if mode == "trace":
        return g
    if mode == "diagonal":
        return jnp.broadcast_to(g[:, :, None], g.shape + (c,))
    return g[:, :, None, None] * jnp.eye(c, dtype=dtype)


@functools.partial(jax.jit, static_argnames=("spec", "mode", "same"))
def _mlp_ntk(spec: _MlpSpec, params, x1, x2, mode: str, same: bool):
    t1 = _mlp_terms(spec, params, x1)
    t2 = t1 if same else _mlp_terms(spec, params, x2)
    c = params["layers"][-1]["w"].shape[1]
    dtype = t1[0][0].dtype
    k = None
    for _j, ((sa1, d1), (sa2, d2)) in enumerate(zip(t1, t2)):
        g = _gram(sa1, sa2)
        if spec.bias:
            t = spec.sigma_b if spec.ntk_param else 1.0
            g = g + t * t
        if d1 is None:
            term = _identity_term(g, c, mode, dtype)
        else:
            dg = _delta_gram(d1, d2, mode)
            term = (
                g * dg if mode == "trace" else (g[:, :, None] * dg if mode == "diagonal" else g[:, :, None, None] * dg)
            )
        k = term if k is None else k + term
    return k


@functools.partial(jax.jit, static_argnames=("same",))
def _two_layer_relu_ntk(params, x1, x2, same: bool):
    """Exact NTK of ``h(x) = (1/√m) Σ_i w_i ReLU(r_i·(x + l_i))``.

    With ``u_i(x) = r_i·(x + l_i)`` and ``D_i(x) = w_i 1[u_i(x) > 0]``:
    ``∂h/∂w_i = ReLU(u_i)/√m``, ``∂h/∂r_i = D_i (x + l_i)/√m``, ``∂h/∂l_i = D_i r_i/√m``, so
    ``K(x,x') = (1/m) Σ_i [ReLU(u_i)ReLU(u_i') + D_i D_i' ((x+l_i)·(x'+l_i) + |r_i|²)]``, a mean
    over neurons; expanding ``(x+l_i)·(x'+l_i)`` keeps every term a matrix product.
    """
    w, r, l = params["w"], params["r"], params["l"]
    m = w.shape[0]

    def parts(x):
        u = jnp.matmul(x, r.T, precision=_HI) + jnp.sum(r * l, axis=1)
        # 1[u > 0]: the same convention as jax's relu'(0) = 0.
        dmask = w * (u > 0).astype(x.dtype)
        return jax.nn.relu(u), dmask, jnp.matmul(x, l.T, precision=_HI)

    a1, d1, xl1 = parts(x1)
    a2, d2, xl2 = (a1, d1, xl1) if same else parts(x2)
    x2_ = x1 if same else x2
    norms = jnp.sum(l * l, axis=1) + jnp.sum(r * r, axis=1)
    dd = _gram(d1, d2)
    k = (
        _gram(a1, a2)
        + jnp.matmul(x1, x2_.T, precision=_HI) * dd
        + _gram(d1 * xl1, d2)
        + _gram(d1, d2 * xl2)
        + _gram(d1 * norms, d2)
    )
    return k / m


def _check_lfp_params(params, d: int, name: str = "params") -> None:
    if not isinstance(params, dict) or not {"w", "r", "l"} <= set(params):
        raise TypeError(f"{name} must be the dict {{'w', 'r', 'l'}} returned by two_layer_relu's init")
    if params["r"].ndim != 2 or params["r"].shape[1] != d:
        raise ValueError(f"x must have {params['r'].shape[1]} features as at init; got {d}")


def _fast_ntk(kind: str, spec, asi: bool, params, x1, x2, mode: str):
    if asi:
        if not isinstance(params, dict) or set(params) != {"a", "b"}:
            raise TypeError("params of an asi model must be the dict {'a': θ, 'b': θ'} from its init")
        # h_ASI = (√2/2)(h(θ) − h(θ')) with θ, θ' independent: K = ½ (K_θ + K_θ').
        ka = _fast_ntk(kind, spec, False, params["a"], x1, x2, mode)
        kb = _fast_ntk(kind, spec, False, params["b"], x1, x2, mode)
        return 0.5 * (ka + kb)
    same = x2 is None
    x2_ = x1 if same else x2
    if kind == "mlp":
        _check_mlp_params(spec, params, x1.shape[1])
        return _mlp_ntk(spec, params, x1, x2_, mode, same)
    _check_lfp_params(params, x1.shape[1])
    k = _two_layer_relu_ntk(params, x1, x2_, same)
    return _identity_term(k, 1, mode, k.dtype)


def _mode(trace_axes, diagonal_axes, out_ndim: int) -> str | None:
    """Map neural-tangents axes on ``(n, c)`` outputs to the fast path's mode (None: unsupported)."""
    canon = lambda axes: tuple(sorted(a % out_ndim for a in axes))
    t, d = canon(trace_axes), canon(diagonal_axes)
    if t == (1,) and d == ():
        return "trace"
    if t == () and d == (1,):
        return "diagonal"
    if t == () and d == ():
        return "full"
    return None


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def _resolve(apply):
    Model = _model_class()
    if isinstance(apply, Model):
        return apply.apply, _fast_spec(apply)
    if callable(apply):
        return apply, None
    raise TypeError(f"apply must be an fpjax.models.Model or a function apply(params, x); got {type(apply).__name__}")


def _nt_fn(apply, trace_axes, diagonal_axes, vmap_axes, implementation: int):
    from fpjax._src import nt_compat

    nt = nt_compat.require()
    return jax.jit(
        nt.empirical_ntk_fn(
            apply,
            trace_axes=trace_axes,
            diagonal_axes=diagonal_axes,
            vmap_axes=vmap_axes,
            implementation=implementation,
        )
    )


@checks.renamed_keyword(model_or_apply="apply")
def empirical_ntk_fn(
    apply: Model | Callable,
    *,
    implementation: str | int = "auto",
    trace_axes: tuple[int, ...] = (-1,),
    diagonal_axes: tuple[int, ...] = (),
    vmap_axes=None,
) -> Callable:
    """Return ``ntk(x1, x2, params)``, a jittable empirical-NTK function (see :func:`empirical_ntk`).

    The argument order is neural-tangents' (``x2 = None`` means ``x2 = x1``). Without input validation
    and blocking: meant for use inside ``jit``/``vmap``/``fit(record=...)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((8, 1), "relu")
      >>> x = jnp.ones((3, 2))
      >>> ntk = empirical_ntk_fn(model)
      >>> ntk(x, None, model.init(jax.random.key(0), x)).shape
      (3, 3)

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
      R. Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in Python", ICLR 2020,
      arXiv:1912.02803.
    """
    implementation = _check_implementation(implementation)
    trace_axes = _norm_axes(trace_axes, "trace_axes")
    diagonal_axes = _norm_axes(diagonal_axes, "diagonal_axes")
    apply_fn, fast = _resolve(apply)
    if implementation == "fast" and fast is None:
        raise ValueError(
            "implementation='fast' needs a Model from fpjax.models.mlp, two_layer_relu or asi of "
            f"one; got {getattr(apply, 'name', type(apply).__name__)}"
        )
    use_fast = fast is not None and implementation in ("auto", "fast")
    if use_fast:
        _check_out_axes(trace_axes, diagonal_axes, 2)
        mode = _mode(trace_axes, diagonal_axes, 2)
        if mode is None:
            raise ValueError(
                f"the fast path supports trace_axes/diagonal_axes of (), (-1,) on (n, c) outputs; "
                f"got trace_axes={trace_axes}, diagonal_axes={diagonal_axes}"
            )
        kind, spec, asi = fast
        return lambda x1, x2, params: _fast_ntk(kind, spec, asi, params, x1, x2, mode)
    impl = 1 if implementation in ("auto", "nt") else implementation
    jitted = {}  # one jitted neural-tangents function per output rank, reused across calls and blocks

    def fn(x1, x2, params):
        out_ndim = len(jax.eval_shape(apply_fn, params, x1).shape)
        if out_ndim == 0:
            raise ValueError("apply(params, x) must return one output row per sample, shape (n, ...); got a scalar")
        _check_out_axes(trace_axes, diagonal_axes, max(out_ndim, 2))
        if out_ndim not in jitted:
            # Scalar-per-sample outputs (n,) become (n, 1) so the output axis is explicit.
            f = (lambda p, xx: apply_fn(p, xx)[:, None]) if out_ndim == 1 else apply_fn
            jitted[out_ndim] = _nt_fn(f, trace_axes, diagonal_axes, vmap_axes, impl)
        return jitted[out_ndim](x1, x2, params)

    return fn


@checks.renamed_keyword(model_or_apply="apply")
def empirical_ntk(
    apply: Model | Callable,
    params: PyTree,
    x1: ArrayLike,
    x2: ArrayLike | None = None,
    *,
    implementation: str | int = "auto",
    batch_size: int | None = None,
    trace_axes: tuple[int, ...] = (-1,),
    diagonal_axes: tuple[int, ...] = (),
    vmap_axes=None,
) -> jax.Array:
    """Empirical neural tangent kernel ``K_θ(x, x') = ∇_θ f(x) · ∇_θ f(x')``.

    Args:
      apply: an :class:`fpjax.models.Model` or any ``apply(params, x) -> (n, c)`` (or ``(n,)``).
        For Flax modules with extra collections (batch statistics), pass
        ``lambda p, x: module.apply({"params": p, "batch_stats": bs}, x, train=False)`` and the
        ``"params"`` collection as ``params``: only ``params`` is differentiated.
      params: the parameter pytree.
      x1: ``(n1, ...)`` inputs; ``(n1, d)`` for MLPs. x2: ``(n2, ...)`` or None (``x2 = x1``).
      implementation: ``"auto"`` (fast exact path for fpjax MLPs / ``two_layer_relu`` / ``asi``
        of them, else neural-tangents' Jacobian contraction), ``"fast"`` (require the fast path),
        ``"nt"`` or ``1`` (neural-tangents Jacobian contraction), ``2`` (neural-tangents
        NTK-vector products). ``3`` does not work under current JAX and is refused.
      batch_size: compute the kernel in blocks of ``batch_size`` rows of ``x1`` and of ``x2``
        (memory ``O(batch_size · P)`` for neural-tangents instead of ``O(N · P)``).
      trace_axes, diagonal_axes: neural-tangents' output-axis convention (see the module doc):
        default ``(-1,)`` gives ``(n1, n2)``, the mean over outputs of ``K_{aa}``.
      vmap_axes: passed to neural-tangents (``0`` if ``apply`` treats samples independently, which
        speeds up implementation 1); ignored by the fast path.

    Returns:
      ``(n1, n2)`` by default; ``(n1, n2, c)`` with ``diagonal_axes=(-1,), trace_axes=()``;
      ``(n1, n2, c, c)`` with ``trace_axes=()``.

    Examples:
      One Dense layer in the NTK parameterization, ``f(x) = (σ_w/√d) x·W + σ_b b``, has the kernel
      ``σ_w² x·x'/d + σ_b²`` at any parameters:

      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from fpjax.models import mlp
      >>> x = jnp.array([[-1.0], [0.5], [2.0]])
      >>> linear = mlp((1,), init="ntk", sigma_b=0.5)
      >>> params = linear.init(jax.random.key(0), x)
      >>> np.round(np.asarray(empirical_ntk(linear, params, x)), 4).tolist()      # x x' + 0.25
      [[1.25, -0.25, -1.75], [-0.25, 0.5, 1.25], [-1.75, 1.25, 4.25]]
      >>> model = mlp((16, 2), "tanh")                                              # c = 2 outputs
      >>> p = model.init(jax.random.key(0), x)
      >>> empirical_ntk(model, p, x).shape, empirical_ntk(model, p, x, x[:2], trace_axes=()).shape
      ((3, 3), (3, 2, 2, 2))
      >>> k_fast = empirical_ntk(model, p, x)                      # the exact fast path
      >>> k_nt = empirical_ntk(model, p, x, implementation="nt")   # neural-tangents' Jacobians
      >>> bool(jnp.allclose(k_fast, k_nt, rtol=1e-4, atol=1e-5))
      True

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
      R. Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in Python", ICLR 2020,
      arXiv:1912.02803.
    """
    implementation = _check_implementation(implementation)
    _, fast = _resolve(apply)
    use_fast = fast is not None and implementation in ("auto", "fast")
    x1, x2 = _check_inputs(x1, x2, fast=use_fast)
    if batch_size is not None:
        batch_size = checks.check_positive_int(batch_size, "batch_size")
    fn = empirical_ntk_fn(
        apply,
        implementation=implementation,
        trace_axes=trace_axes,
        diagonal_axes=diagonal_axes,
        vmap_axes=vmap_axes,
    )
    return _blocked(lambda a, b: fn(a, b, params), x1, x2, batch_size)


def infinite_ntk(
    kernel_fn, x1: ArrayLike, x2: ArrayLike | None = None, get: str | tuple = "ntk", *, batch_size: int | None = None
):
    """Infinite-width kernel(s) of neural-tangents' analytic ``kernel_fn``.

    Args:
      kernel_fn: a neural-tangents ``kernel_fn`` (e.g. from ``stax.serial``) or an
        :class:`fpjax.models.Model` with a ``kernel_fn`` (``init="standard"`` or ``"ntk"``).
      x1: ``(n1, ...)``; x2: ``(n2, ...)`` or None.
      get: ``"ntk"``, ``"nngp"`` or a tuple of them (then a tuple is returned).
      batch_size: evaluate in blocks of rows (the kernels are pairwise, so blocks are exact).

    Returns:
      ``(n1, n2)`` array (or a tuple of them): the limit of :func:`empirical_ntk` with the default
      ``trace_axes=(-1,)`` as all widths go to infinity.

    Raises:
      NeuralTangentsUnavailable: neural-tangents cannot be imported under the installed JAX.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> from fpjax.models import mlp
      >>> x = jnp.array([[-1.0], [0.5], [2.0]])
      >>> linear = mlp((1,), init="ntk", sigma_b=0.5)              # NTK = NNGP = x x' + σ_b²
      >>> ntk, nngp = infinite_ntk(linear, x, get=("ntk", "nngp"))
      >>> np.round(np.asarray(ntk), 4).tolist()
      [[1.25, -0.25, -1.75], [-0.25, 0.5, 1.25], [-1.75, 1.25, 4.25]]
      >>> infinite_ntk(mlp((64, 1), "relu", init="ntk"), x, x[:2], batch_size=2).shape
      (3, 2)

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
      R. Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in Python", ICLR 2020,
      arXiv:1912.02803.
    """
    Model = _model_class()
    if isinstance(kernel_fn, Model):
        if kernel_fn.kernel_fn is None:
            raise ValueError(
                f"model {kernel_fn.name} has no infinite-width kernel (neural-tangents lacks its "
                "init/layers: use init='standard' or 'ntk' and no Fourier features)"
            )
        kernel_fn = kernel_fn.kernel_fn
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be a neural-tangents kernel_fn or a Model; got {type(kernel_fn).__name__}")
    if not isinstance(get, (str, tuple, list)):
        raise TypeError(f"get must be 'ntk', 'nngp' or a tuple of them; got {type(get).__name__}")
    names = (get,) if isinstance(get, str) else tuple(get)
    if not names:
        raise ValueError("get must name at least one kernel: 'ntk' or 'nngp'")
    for g in names:
        checks.check_choice(g, "get", ("ntk", "nngp"))
    x1, x2 = _check_inputs(x1, x2, fast=False)
    if batch_size is not None:
        batch_size = checks.check_positive_int(batch_size, "batch_size")
    from fpjax._src import nt_compat

    nt_compat.require()  # a clear NeuralTangentsUnavailable instead of an obscure failure inside

    def fn(a, b):
        out = kernel_fn(a, b, names)
        return jnp.stack([jnp.asarray(o) for o in out])

    ks = _blocked(lambda a, b: jnp.moveaxis(fn(a, b), 0, -1), x1, x2, batch_size)
    ks = jnp.moveaxis(ks, -1, 0)
    return ks[0] if isinstance(get, str) else tuple(ks[i] for i in range(len(names)))


# ----------------------------------------------------------------------------------------------
# linearized (kernel) gradient flow for MSE
# ----------------------------------------------------------------------------------------------


class FlowResult(NamedTuple):
    """Predictions of the linearized MSE flow.

    train: ``f_t(X)``, shape ``(*t.shape, n, ...)`` like ``y_train`` with the time axes in front.
    test: ``f_t(x_test)``, ``(*t.shape, m, ...)``, or None without test inputs.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> k = jnp.array([[2.0, 1.0], [1.0, 2.0]])                  # y is its eigenvector, λ = 1
      >>> res = kernel_flow(k, jnp.array([1.0, -1.0]), jnp.array([0.0, 1.0, jnp.inf]),
      ...                   k_test_train=jnp.array([[1.0, 0.0]]))
      >>> res.train.shape, res.test.shape                         # (*t.shape, n), (*t.shape, m)
      ((3, 2), (3, 1))
      >>> [round(float(v), 4) for v in res.train[:, 0]]            # 1 − exp(−t λ/n), λ/n = 1/2
      [0.0, 0.3935, 1.0]

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
      J. Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
      descent", NeurIPS 2019, arXiv:1902.06720.
    """

    train: jax.Array
    test: jax.Array | None


def _flat_kernel(k, n: int, c: int, name: str):
    """``(n, n)`` (same kernel per output) or ``(n, n, c, c)`` (full) → matrix and whether it is full."""
    if k.ndim == 2:
        return k, False
    if k.ndim == 4 and k.shape[2:] == (c, c):
        # (n, n', c, c') -> ((n c), (n' c')) so the flow couples outputs exactly.
        return jnp.transpose(k, (0, 2, 1, 3)).reshape(k.shape[0] * c, k.shape[1] * c), True
    raise ValueError(f"{name} must be (n, n') or (n, n', c, c) with c = {c} outputs; got shape {tuple(k.shape)}")


@jax.jit
def _flow_core(kmat, r0, t, ktm, rcond):
    """Train residual and test increment of the flow (see :func:`kernel_flow`); one compilation per shape."""
    eig = kernel_linalg.eigh_psd(kmat, rcond=rcond)
    a, r = kernel_linalg.residual_flow(eig, r0, t)
    dtest = None if ktm is None else -jnp.einsum("mn,...nc->...mc", ktm, a, precision=_HI)
    return r, dtest


def kernel_flow(
    k_train_train: ArrayLike,
    y_train: ArrayLike,
    t: ArrayLike,
    *,
    f0_train: ArrayLike | None = None,
    k_test_train: ArrayLike | None = None,
    f0_test: ArrayLike | None = None,
    rcond: float | None = None,
) -> FlowResult:
    """Closed-form linearized gradient flow on ``L = (1/2n)‖f(X) − Y‖²`` with the kernel frozen.

    Gradient flow ``θ̇ = −∇L`` with a frozen tangent kernel ``K`` gives ``ḟ(X) = −(K/n)(f(X) − Y)``:

        f_t(X) = Y + exp(−t K/n) (f_0(X) − Y),
        f_t(x) = f_0(x) + K(x, X) K⁺ (I − exp(−t K/n)) (Y − f_0(X)),

    with ``t = η · steps`` the gradient-flow time of gradient descent with step size ``η`` (the
    linearized network trained for ``steps`` steps of size ``η`` is close to ``f_t`` when ``η`` is
    small). Computed by :mod:`fpjax._src.kernel_linalg` (eigendecomposition of the symmetrised
    kernel; eigenvalues ``≤ rcond · λ_max``, default ``rcond = n·eps``, are zero: nothing moves
    there, and ``t = inf`` is the least-norm least-squares steady state).

    Args:
      k_train_train: ``(n, n)`` kernel applied to every output column, or ``(n, n, c, c)`` full
        (e.g. :func:`empirical_ntk` with ``trace_axes=()``).
      y_train: ``(n,)`` or ``(n, c)`` targets.
      t: gradient-flow time(s) ``η · steps``: scalar or array, may contain ``inf``.
      f0_train: ``f_0(X)`` like ``y_train`` (default 0).
      k_test_train: ``(m, n)`` or ``(m, n, c, c)``.
      f0_test: ``f_0(x_test)``, ``(m, ...)`` (default 0).
      rcond: relative eigenvalue cut-off (see above).

    Returns:
      :class:`FlowResult` with ``train (*t.shape, n, ...)`` and ``test (*t.shape, m, ...)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> k = jnp.array([[2.0, 1.0], [1.0, 2.0]])
      >>> res = kernel_flow(k, jnp.array([1.0, -1.0]), jnp.array([0.0, jnp.inf]))
      >>> res.train.round(6).tolist()
      [[0.0, 0.0], [1.0, -1.0]]

    References:
      J. Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
      descent", NeurIPS 2019, arXiv:1902.06720.
    """
    k = checks.as_array(k_train_train, "k_train_train")
    y = checks.as_array(y_train, "y_train")
    checks.check_ndim(y, "y_train", (1, 2), shape_hint="(n,) or (n, c)")
    checks.check_finite(k, "k_train_train")
    checks.check_finite(y, "y_train")
    n = y.shape[0]
    c = 1 if y.ndim == 1 else y.shape[1]
    if k.shape[:2] != (n, n):
        raise ValueError(
            f"k_train_train must have shape ({n}, {n}, ...) for {n} training points (rows of y_train); got {tuple(k.shape)}"
        )
    kmat, full = _flat_kernel(k, n, c, "k_train_train")
    dtype = jnp.result_type(kmat.dtype, y.dtype, jnp.float32)
    checks.check_no_complex(kmat, "k_train_train")
    checks.check_no_complex(y, "y_train")
    kmat = checks.check_symmetric(kmat.astype(dtype), "k_train_train")
    y = y.astype(dtype)
    checks.check_no_complex(t, "t")
    t = checks.as_array(t, "t").astype(dtype)
    t = checks.error_if(t, jnp.isnan(t) | (t < 0), "t must be >= 0 (inf allowed); got negative or NaN times")
    f0 = jnp.zeros_like(y) if f0_train is None else checks.as_array(f0_train, "f0_train").astype(dtype)
    if f0.shape != y.shape:
        raise ValueError(f"f0_train must have the shape of y_train {tuple(y.shape)}; got {tuple(f0.shape)}")
    checks.check_finite(f0, "f0_train")
    out_shape = y.shape
    r0 = f0.reshape(n, c) - y.reshape(n, c)
    # Full kernel: the residual is flattened (n c,); otherwise K acts on each of the c columns.
    r0 = r0.reshape(n * c, 1) if full else r0

    if rcond is None:
        rcond = kernel_linalg.default_rcond(kmat.shape[0], dtype)
    rcond = checks.check_positive(rcond, "rcond", allow_zero=True)

    ktm = f0t = None
    m = 0
    if k_test_train is not None:
        kt = checks.as_array(k_test_train, "k_test_train")
        checks.check_finite(kt, "k_test_train")
        if kt.ndim not in (2, 4) or kt.shape[1] != n or (kt.ndim == 4) != full:
            raise ValueError(
                f"k_test_train must have shape (m, {n})"
                + (f" + ({c}, {c})" if full else "")
                + f" to match k_train_train; got {tuple(kt.shape)}"
            )
        m = kt.shape[0]
        ktm = (jnp.transpose(kt, (0, 2, 1, 3)).reshape(m * c, n * c) if full else kt).astype(dtype)
        if f0_test is None:
            f0t = jnp.zeros((m,) + out_shape[1:], dtype)
        else:
            f0t = checks.as_array(f0_test, "f0_test").astype(dtype)
            if f0t.shape != (m,) + out_shape[1:]:
                raise ValueError(f"f0_test must have shape {(m,) + out_shape[1:]}; got {tuple(f0t.shape)}")
            checks.check_finite(f0t, "f0_test")
    # MSE with 1/(2n): the core's time is t/n.
    r, dtest = _flow_core(kmat / n, r0, t, None if ktm is None else ktm / n, rcond)
    f_train = (y.reshape((1,) * t.ndim + (n, c)) + r.reshape(t.shape + (n, c))).reshape(t.shape + out_shape)
    f_test = None
    if ktm is not None:
        f_test = (f0t.reshape((1,) * t.ndim + (m, c)) + dtest.reshape(t.shape + (m, c))).reshape(
            t.shape + (m,) + out_shape[1:]
        )
    return FlowResult(f_train, f_test)


@checks.renamed_keyword(model_or_apply="apply")
def predict_linearized(
    apply: Model | Callable,
    params: PyTree,
    x_train: ArrayLike,
    y_train: ArrayLike,
    t: ArrayLike,
    x_test: ArrayLike | None = None,
    *,
    rcond: float | None = None,
    implementation: str | int = "auto",
    full_outputs: bool | None = None,
) -> FlowResult:
    """Prediction of the network linearized at ``params`` and trained by gradient flow on the MSE.

    One call: the empirical NTK ``K_θ`` at ``params`` (:func:`empirical_ntk`) and the initial
    function ``f_0 = apply(params, ·)`` go into :func:`kernel_flow`,

        f_t(x) = f_0(x) + K_θ(x, X) K_θ⁺ (I − exp(−t K_θ/n)) (Y − f_0(X)),

    the exact gradient flow of ``f_lin(θ', x) = f(θ, x) + ∇_θ f(θ, x)·(θ' − θ)`` on
    ``L = (1/2n)‖f(X) − Y‖²`` (the lazy / NTK regime of a wide network). Time is gradient-flow time
    ``t = η · steps`` (``η`` the step size of gradient descent).

    Args:
      apply: an :class:`fpjax.models.Model` or ``apply(params, x) -> (n,)`` / ``(n, c)``.
      params: the parameters to linearize at (usually the initialization).
      x_train: ``(n, ...)``. y_train: the model's output shape at ``x_train``.
      t: gradient-flow time(s), scalar or array, ``inf`` allowed (the steady state).
      x_test: ``(m, ...)`` or None.
      rcond: eigenvalue cut-off of :func:`kernel_flow`.
      implementation: of :func:`empirical_ntk`.
      full_outputs: use the full ``(n, n, c, c)`` kernel (default when the model has ``c > 1``
        outputs), coupling outputs exactly; False uses the output-averaged kernel for every output.

    Returns:
      :class:`FlowResult` ``(train (*t.shape, n, ...), test (*t.shape, m, ...) or None)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((32, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 5)[:, None]
      >>> params = model.init(jax.random.key(0), x)
      >>> res = predict_linearized(model, params, x, jnp.sin(3 * x), jnp.inf, jnp.zeros((2, 1)))
      >>> res.test.shape, bool(jnp.allclose(res.train, jnp.sin(3 * x), atol=1e-2))  # t = ∞ interpolates
      ((2, 1), True)

    References:
      J. Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
      descent", NeurIPS 2019, arXiv:1902.06720.
    """
    apply_fn, _ = _resolve(apply)
    x_train, x_test = _check_inputs(x_train, x_test, fast=False)
    f0 = apply_fn(params, x_train)
    y = checks.as_array(y_train, "y_train")
    if y.shape != f0.shape:
        raise ValueError(f"y_train must have the model's output shape {tuple(f0.shape)}; got {tuple(y.shape)}")
    c = 1 if f0.ndim == 1 else f0.shape[1]
    if full_outputs is None:
        full_outputs = c > 1
    axes = dict(trace_axes=()) if full_outputs else dict(trace_axes=(-1,))
    ktt = empirical_ntk(apply, params, x_train, implementation=implementation, **axes)
    kst = f0s = None
    if x_test is not None:
        kst = empirical_ntk(apply, params, x_test, x_train, implementation=implementation, **axes)
        f0s = apply_fn(params, x_test)
    return kernel_flow(ktt, y, t, f0_train=f0, k_test_train=kst, f0_test=f0s, rcond=rcond)
