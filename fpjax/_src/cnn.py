"""Pure-functional CNN model zoo: :func:`get_model` and the :class:`CNN` wrapper.

A :class:`CNN` wraps a Flax linen module (definitions in :mod:`fpjax._src.cnn_models`) behind two
pure functions, in the style of :class:`fpjax.models.Model` but with batch-norm state:

* ``variables = model.init(key, x)`` → ``{"params": ..., "batch_stats": ...}``
  (``batch_stats`` is ``{}`` for models without batch norm, e.g. AlexNet);
* ``logits, batch_stats = model.apply(variables, x, train=..., key=...)``
  with ``x`` of shape ``(n, H, W, C)`` (NHWC, float) and ``logits`` of shape ``(n, num_classes)``.
  ``train=True``: batch norm normalises with the batch's statistics and returns the updated running
  averages, dropout / drop-connect are active and need ``key``; ``train=False``: batch norm uses the
  running averages (returned unchanged), dropout is off, ``key`` is ignored.

Non-finite input (NaN in, NaN out, under ``jit`` as eagerly): in eval mode each image holding a
NaN/Inf pixel gets NaN logits and the other rows are unaffected; in train mode batch statistics mix
the rows, so non-finite images are refused (``ValueError`` eagerly, a failing program under
``jit``/``vmap``). NaN weights or batch-norm statistics give NaN logits. Complex images are refused
(``TypeError``); images that do not fit the parameters (e.g. NCHW instead of NHWC) get a
``ValueError`` that says so.

Both are jit/vmap friendly; ``init`` and ``apply`` are jitted once per model object (compiling
beats eager Flax dispatch; inside a caller's jit/vmap the inner jit is inlined).
``model.eval_fn(variables)`` returns ``f(params, x) -> logits`` with batch norm in eval mode and the
batch statistics closed over — the ``apply(params, x)`` form that :mod:`fpjax.hessian` and
:mod:`fpjax.spectrum` take. ``model.with_conv_impl(impl)`` returns the same model with another
convolution implementation (``get_model(..., conv_impl=...)``: ``"auto"`` = im2col + matmul on
CPU, ``lax.conv`` elsewhere; see :class:`fpjax._src.cnn_models.Conv`): XLA:CPU runs convolution
gradients inside loops (Hessian Lanczos/Hutchinson, scanned epochs) 10-50× slower than alone,
im2col does not suffer from that; outside loops ``"lax"`` trains about 2× faster on CPU.

Names (``MODEL_NAMES``): ``resnet18``, ``resnet50``, ``vgg11``, ``vgg16``, ``alexnet``,
``densenet121``, ``senet18``, ``efficientnet_b0``, ``convmixer``, ``cnn_small``. Parameter counts
at 10 classes (``num_params``): ResNet-18 11,173,962; VGG-16 14,728,266; ResNet-50 23,520,842;
DenseNet-121 6,956,298; EfficientNet-B0 4,020,358 — the counts of the standard CIFAR versions
(checked in tests/test_cnn.py, derivations there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import errors as flax_errors

from fpjax._src import checks
from fpjax._src import cnn_models as cm
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.models import num_params
from fpjax._src.spectrum_kernels import conv_kernel_items

__all__ = ["CNN", "get_model", "MODEL_NAMES", "num_params", "spatial_kernels"]

# name -> (constructor(num_classes, dropout, **kw) -> module, architecture's own dropout default)
_REGISTRY: dict[str, tuple[Callable[..., nn.Module], float]] = {
    "resnet18": (lambda c, d, **kw: cm.ResNet((2, 2, 2, 2), "basic", c, d, **kw), 0.0),
    "resnet50": (lambda c, d, **kw: cm.ResNet((3, 4, 6, 3), "bottleneck", c, d, **kw), 0.0),
    "vgg11": (lambda c, d, **kw: cm.VGG(cm.VGG_CFGS["vgg11"], c, d, **kw), 0.0),
    "vgg16": (lambda c, d, **kw: cm.VGG(cm.VGG_CFGS["vgg16"], c, d, **kw), 0.0),
    "alexnet": (lambda c, d, **kw: cm.AlexNet(c, d, **kw), 0.5),
    "densenet121": (lambda c, d, **kw: cm.DenseNet((6, 12, 24, 16), c, dropout=d, **kw), 0.0),
    "senet18": (lambda c, d, **kw: cm.SENet((2, 2, 2, 2), c, d, **kw), 0.0),
    "efficientnet_b0": (lambda c, d, **kw: cm.EfficientNet(c, d, **kw), 0.2),
    "convmixer": (lambda c, d, **kw: cm.ConvMixer(c, dropout=d, **kw), 0.0),
    "cnn_small": (lambda c, d, **kw: cm.SmallCNN(c, dropout=d, **kw), 0.0),
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


_NONFINITE_TRAIN = (
    "x must be finite in train mode: it holds NaN/Inf, and batch statistics would spread it to every row of "
    "the batch (eval mode gives NaN logits for the non-finite rows only)"
)


@dataclasses.dataclass(frozen=True, eq=False)
class CNN:
    """A CNN as two pure functions (see the module docstring).

    Attributes: ``name`` (registry name), ``module`` (the Flax module), ``config`` (plain-JSON
    settings: num_classes, dropout, extra keyword arguments), ``stochastic`` (True when
    ``apply(..., train=True)`` needs a key: dropout or drop-connect rate > 0).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.cnn import get_model
      >>> model = get_model("cnn_small", 3, widths=(2, 4))
      >>> x = jnp.zeros((2, 8, 8, 1))  # NHWC
      >>> variables = model.init(jax.random.key(0), x)
      >>> sorted(variables), sorted(variables["batch_stats"])
      (['batch_stats', 'params'], ['BatchNorm_0', 'BatchNorm_1'])
      >>> logits, batch_stats = model.apply(variables, x)
      >>> logits.shape
      (2, 3)
      >>> f = model.eval_fn(variables)  # f(params, x), batch norm in eval mode
      >>> bool(jnp.array_equal(f(variables["params"], x), logits))
      True
    """

    name: str
    module: nn.Module
    config: dict
    stochastic: bool

    def __post_init__(self):
        def _init(key, x):
            v = self.module.init({"params": key, "dropout": key}, x, train=False)
            return {"params": v["params"], "batch_stats": v.get("batch_stats", {})}

        object.__setattr__(self, "_init_jit", jax.jit(_init))

        def _apply(v, x, key, train):
            if not train:
                return cm.propagate_nonfinite(x, self.module.apply(v, x, train=False)), v.get("batch_stats", {})
            rngs = {"dropout": key} if key is not None else {}
            logits, mut = self.module.apply(v, x, train=True, rngs=rngs, mutable=["batch_stats"])
            return cm.propagate_nonfinite(x, logits), mut.get("batch_stats", {})

        # Jitted once per model object (eager Flax dispatch is slow); inside a caller's jit/vmap
        # the inner jit is simply inlined.
        object.__setattr__(self, "_apply_jit", jax.jit(_apply, static_argnames="train"))

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    def _check_x(self, x, name="x"):
        if jnp.iscomplexobj(x):
            raise TypeError(f"{name} must hold real images; got a complex array (its imaginary part would be lost)")
        x = checks.as_array(x, name)
        checks.check_ndim(x, name, 4, shape_hint="(n, height, width, channels) (NHWC)")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        return x

    def init(self, key: jax.Array, x: ArrayLike) -> dict:
        """``variables = {"params", "batch_stats"}`` for inputs shaped like ``x`` (n, H, W, C)."""
        checks.check_key(key)
        return self._init_jit(key, self._check_x(x))

    def apply(self, variables: dict, x: ArrayLike, *, train: bool = False, key: jax.Array | None = None):
        """``(logits (n, num_classes), batch_stats)``; see the module docstring for ``train``."""
        if not isinstance(variables, dict) or "params" not in variables:
            raise TypeError("variables must be the dict returned by init (keys 'params', 'batch_stats')")
        x = self._check_x(x)
        bs = variables.get("batch_stats", {})
        v = {"params": variables["params"]}
        if bs:
            v["batch_stats"] = bs
        if train:
            # Batch statistics mix the rows of a batch: one NaN image would make every row NaN, so
            # non-finite images are refused in train mode (eval mode: NaN rows give NaN logits).
            x = checks.error_if(x, ~jnp.all(jnp.isfinite(x)), _NONFINITE_TRAIN)
            if key is not None:
                checks.check_key(key)
            elif self.stochastic:
                raise ValueError(
                    f"{self.name} has dropout/drop-connect (config {self.config}); "
                    "apply(..., train=True) needs key=jax.random.key(...)"
                )
        try:
            out = self._apply_jit(v, x, key if train else None, bool(train))
        except (TypeError, ValueError, flax_errors.FlaxError) as err:
            if "NaN/Inf" in str(err):
                raise
            raise ValueError(
                f"x of shape {tuple(x.shape)} does not fit the parameters of {self.name} ({err}); images must be "
                "NHWC (n, height, width, channels) with the channels the model was initialised with "
                "(NCHW input: use jnp.transpose(x, (0, 2, 3, 1)))"
            ) from err
        return out if train else (out[0], bs)

    def eval_fn(self, variables: dict) -> Callable[[Any, jax.Array], jax.Array]:
        """``f(params, x) -> logits`` in eval mode with ``variables["batch_stats"]`` frozen."""
        bs = variables.get("batch_stats", {})

        def f(params, x):
            v = {"params": params, "batch_stats": bs} if bs else {"params": params}
            return cm.propagate_nonfinite(x, self.module.apply(v, x, train=False))

        return f

    def with_conv_impl(self, impl: str) -> CNN:
        """The same model with another convolution implementation (``"auto" | "lax" |
        "patches"``); parameters and outputs are identical, so ``variables`` carry over (e.g. train
        with ``"lax"`` in a per-step loop, take Hessians with ``"patches"`` on CPU)."""
        checks.check_choice(impl, "impl", cm.CONV_IMPLS)
        return dataclasses.replace(
            self, module=self.module.clone(conv_impl=impl), config={**self.config, "conv_impl": impl}
        )

    def __repr__(self):
        return f"CNN(name={self.name!r}, config={self.config})"


def get_model(name: str, num_classes: int = 10, *, dropout: float | None = None, **kwargs) -> CNN:
    """Build a CNN by name.

    Args:
      name: one of ``MODEL_NAMES``.
      num_classes: output size C.
      dropout: dropout rate before the classifier (AlexNet: both classifier dropouts). ``None``
        (default) keeps the architecture's own value: 0.5 for AlexNet, 0.2 for EfficientNet-B0,
        0 for the others.
      **kwargs: architecture options, e.g. ``widths=(8, 16, 32)`` for ``cnn_small``,
        ``drop_connect`` for EfficientNet, ``dim/depth/kernel/patch`` for ConvMixer,
        ``growth``/``reduction`` for DenseNet, ``hidden`` for AlexNet; and for every model
        ``conv_impl``: ``"auto"`` (default: im2col + matmul on CPU, ``lax.conv`` elsewhere),
        ``"lax"`` or ``"patches"`` — same parameters and outputs, see
        :class:`fpjax._src.cnn_models.Conv` for why CPU needs the im2col form inside loops.

    Returns:
      A :class:`CNN` (no parameters yet: ``model.init(key, x)`` makes them).

    Raises ValueError for an unknown name (listing the known ones), a non-positive
    ``num_classes`` or a dropout rate outside [0, 1); TypeError for unknown options.

    Examples:
      >>> get_model("alexnet")
      CNN(name='alexnet', config={'num_classes': 10, 'dropout': 0.5})
      >>> get_model("alexnet").stochastic, get_model("resnet18", 100, dropout=0.0).stochastic
      (True, False)
      >>> get_model("cnn_small", 10, widths=(8, 16)).config
      {'num_classes': 10, 'dropout': 0.0, 'widths': [8, 16]}
      >>> get_model("resnet")
      Traceback (most recent call last):
      ...
      ValueError: unknown model name 'resnet'; expected one of resnet18, resnet50, vgg11, vgg16, alexnet, densenet121, senet18, efficientnet_b0, convmixer, cnn_small
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown model name {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    name = name.lower()
    num_classes = checks.check_positive_int(num_classes, "num_classes")
    ctor, default_dropout = _REGISTRY[name]
    if dropout is None:
        dropout = default_dropout
    dropout = checks.check_positive(dropout, "dropout", allow_zero=True)
    if dropout >= 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout}")
    if "conv_impl" in kwargs:
        checks.check_choice(kwargs["conv_impl"], "conv_impl", cm.CONV_IMPLS)
    try:
        module = ctor(num_classes, dropout, **kwargs)
    except TypeError as err:
        raise TypeError(f"unknown option for {name}: {err}") from None
    stochastic = dropout > 0 or float(getattr(module, "drop_connect", 0.0)) > 0
    config = {
        "num_classes": num_classes,
        "dropout": dropout,
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
    }
    return CNN(name=name, module=module, config=config, stochastic=stochastic)


def spatial_kernels(params: PyTree, *, min_size: int = 2) -> dict[str, jax.Array]:
    """All convolution kernels of a params tree with spatial size ≥ ``min_size`` (i.e. no 1×1).

    Returns ``{"path/to/Conv_0": kernel (kh, kw, c_in, c_out)}`` (the path without ``/kernel``) in
    natural layer order (``Conv_2`` before ``Conv_10``; input to output for the sequential models):
    the leaves named ``kernel`` of :func:`fpjax.spectrum.conv_kernels`' extractor. Used for the conv
    weight spectra of fr-ssr.

    Examples:
      >>> import numpy as np
      >>> k = {"kernel": np.ones((3, 3, 1, 4))}
      >>> list(spatial_kernels({"Conv_10": k, "Conv_2": k, "Conv_3": {"kernel": np.ones((1, 1, 4, 4))}}))
      ['Conv_2', 'Conv_10']
    """
    out = {}
    for name, k in conv_kernel_items(params, min_size=min_size):
        head, _, last = name.rpartition("/")
        if last == "kernel":
            out[head] = k
    return out
