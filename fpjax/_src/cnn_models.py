"""Flax (linen) definitions of the CNN model zoo (ResNet, VGG, AlexNet, DenseNet, SENet, EfficientNet, ConvMixer, a small CNN).

The architectures follow the CIFAR-size variants that the source paper's PyTorch experiments use
(the widely used "pytorch-cifar" family): a 3×3, stride-1 stem instead of the ImageNet 7×7/stride-2
stem plus max-pool, and a global average pool before the classifier, so every model takes 32×32
(CIFAR) and 64×64 (Tiny ImageNet) NHWC inputs unchanged. Batch norm and dropout are architectural
parts: every module takes ``train`` (batch statistics and dropout on) and uses the ``"dropout"``
RNG stream.

Conventions shared by all modules (chosen to match PyTorch so that parameter counts and padding
agree with the published numbers):

* explicit symmetric padding ``k // 2`` (PyTorch ``padding=1`` for 3×3), not ``"SAME"``, which pads
  asymmetrically for stride 2;
* batch norm with momentum 0.9 (PyTorch ``momentum=0.1``) and ``eps = 1e-5`` (EfficientNet:
  ``1e-3`` as in its reference implementation);
* conv kernels He-normal (``N(0, 2/fan_in)``, the ReLU-preserving variance), dense layers
  LeCun-normal; biases zero.

Only the module definitions live here; :mod:`fpjax._src.cnn` wraps them in the pure-functional
:class:`~fpjax._src.cnn.CNN` object and the :func:`~fpjax._src.cnn.get_model` factory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "ResNet",
    "VGG",
    "AlexNet",
    "DenseNet",
    "SENet",
    "EfficientNet",
    "ConvMixer",
    "SmallCNN",
    "VGG_CFGS",
]

_conv_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")

CONV_IMPLS = ("auto", "lax", "patches")


def _conv_patches(x: jax.Array, w: jax.Array, stride: int, pad: int) -> jax.Array:
    """``y[n, a, b, o] = Σ_{i,j,c} x_pad[n, s·a + i, s·b + j, c] · w[i, j, c, o]`` as one matmul over
    the k² shifted views ("im2col"). Same result as ``lax.conv_general_dilated``; its gradients are
    pads, slices and matmuls."""
    kh, kw, ci, co = w.shape
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho = (x.shape[1] - kh) // stride + 1
    wo = (x.shape[2] - kw) // stride + 1
    views = [
        x[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride, :]
        for i in range(kh)
        for j in range(kw)
    ]
    cols = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
    return jnp.matmul(cols, w.reshape(kh * kw * ci, co))


class Conv(nn.Module):
    """2-D convolution with the parameters of ``flax.linen.Conv`` (``kernel (k, k, c_in/groups,
    c_out)``, optional ``bias``; same names, so parameter paths read ``Conv_0/kernel``) and a choice
    of implementation:

    * ``"lax"``: ``lax.conv_general_dilated`` (cuDNN on GPU);
    * ``"patches"``: im2col + matmul (:func:`_conv_patches`), ungrouped convs only;
    * ``"auto"`` (default): ``"patches"`` on CPU, ``"lax"`` elsewhere.

    Why: XLA:CPU compiles the *input gradient* of a convolution inside a loop (``lax.scan``,
    ``fori_loop``, ``while``) into a kernel 10-50× slower than the same op outside a loop
    (measured: a 3×3, 16→32 conv on 256×32×32 inputs, one HVP 0.8 s alone vs 38 s per iteration in
    a ``fori_loop``; the im2col form takes 1.1 s and 1.5 s). The Hessian routines (Lanczos,
    Hutchinson, SLQ) and scanned training epochs are such loops, so on CPU the im2col form is the
    one that makes them usable. Grouped (depthwise) convs always use ``"lax"``.
    """

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    use_bias: bool = False
    groups: int = 1
    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        ci = x.shape[-1]
        k = self.param("kernel", _conv_init, (self.kernel, self.kernel, ci // self.groups, self.features))
        impl = self.impl
        if impl == "auto":
            impl = "patches" if jax.default_backend() == "cpu" else "lax"
        if impl == "patches" and self.groups == 1:
            y = _conv_patches(x, k.astype(x.dtype), self.stride, self.padding)
        else:
            p = self.padding
            y = jax.lax.conv_general_dilated(
                x,
                k.astype(x.dtype),
                (self.stride, self.stride),
                ((p, p), (p, p)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=self.groups,
            )
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros_init(), (self.features,)).astype(y.dtype)
        return y


def _conv(
    features: int,
    k: int,
    stride: int = 1,
    *,
    impl: str,
    bias: bool = False,
    groups: int = 1,
    name: str | None = None,
    padding: int | None = None,
) -> Conv:
    p = k // 2 if padding is None else padding
    return Conv(features, k, stride, p, bias, groups, impl, name=name)


def _bn(train: bool, name: str | None = None, eps: float = 1e-5) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=eps, name=name)


def propagate_nonfinite(x: jax.Array, logits: jax.Array) -> jax.Array:
    """``logits`` with the rows of images that hold any NaN/Inf pixel set to NaN.

    A network can map a non-finite input to finite logits (``relu(−∞) = 0``, ``sigmoid(−∞) = 0``,
    pooling or batch statistics that hide a NaN), which would make bad data look like a
    prediction; one pass over the input makes "NaN in, NaN out" hold for every model."""
    bad = ~jnp.all(jnp.isfinite(x), axis=tuple(range(1, x.ndim)))
    return jnp.where(bad.reshape((-1,) + (1,) * (logits.ndim - 1)), jnp.nan, logits)


def _max_pool(x: jax.Array, window: int) -> jax.Array:
    """``window``×``window`` max-pool with stride ``window`` that keeps NaN: a window holding a NaN
    gives NaN. (XLA:CPU fuses ``max_pool(relu(·))`` under ``jit`` into a reduction whose comparison
    drops NaN: a NaN weight then gave finite logits under ``jit`` but NaN eagerly.)"""
    shape, strides = (window, window), (window, window)
    has_nan = nn.max_pool(jnp.isnan(x).astype(x.dtype), shape, strides=strides) > 0
    return jnp.where(has_nan, jnp.nan, nn.max_pool(x, shape, strides=strides))


def _global_pool(x: jax.Array) -> jax.Array:
    """Mean over the spatial axes: (n, h, w, c) -> (n, c)."""
    return jnp.mean(x, axis=(1, 2))


# ---------------------------------------------------------------------------------------------
# ResNet-18 / ResNet-50 (He et al. 2016), CIFAR stem
# ---------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3×3 convs with BN; projection shortcut (1×1 conv + BN) when the shape changes."""

    planes: int
    stride: int = 1
    impl: str = "auto"
    expansion = 1

    @nn.compact
    def __call__(self, x, train: bool):
        out = nn.relu(_bn(train)(_conv(self.planes, 3, self.stride, impl=self.impl)(x)))
        out = _bn(train)(_conv(self.planes, 3, impl=self.impl)(out))
        if self.stride != 1 or x.shape[-1] != self.planes:
            x = _bn(train)(_conv(self.planes, 1, self.stride, padding=0, impl=self.impl)(x))
        return nn.relu(out + x)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (stride) → 1×1 (4× planes) with BN; projection shortcut when needed."""

    planes: int
    stride: int = 1
    impl: str = "auto"
    expansion = 4

    @nn.compact
    def __call__(self, x, train: bool):
        out_ch = self.expansion * self.planes
        out = nn.relu(_bn(train)(_conv(self.planes, 1, padding=0, impl=self.impl)(x)))
        out = nn.relu(_bn(train)(_conv(self.planes, 3, self.stride, impl=self.impl)(out)))
        out = _bn(train)(_conv(out_ch, 1, padding=0, impl=self.impl)(out))
        if self.stride != 1 or x.shape[-1] != out_ch:
            x = _bn(train)(_conv(out_ch, 1, self.stride, padding=0, impl=self.impl)(x))
        return nn.relu(out + x)


class ResNet(nn.Module):
    """CIFAR ResNet: 3×3/64 stem + BN + ReLU, four stages (64, 128, 256, 512 planes, strides
    1, 2, 2, 2), global average pool, (dropout,) dense. ``block`` is ``"basic"`` (ResNet-18:
    ``stages=(2, 2, 2, 2)``) or ``"bottleneck"`` (ResNet-50: ``(3, 4, 6, 3)``)."""

    stages: Sequence[int]
    block: str
    num_classes: int
    dropout: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        blk = BasicBlock if self.block == "basic" else Bottleneck
        x = nn.relu(_bn(train)(_conv(64, 3, impl=self.conv_impl)(x)))
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), self.stages)):
            for j in range(n):
                x = blk(planes, (1 if i == 0 else 2) if j == 0 else 1, impl=self.conv_impl)(x, train)
        x = _global_pool(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# VGG-11 / VGG-16 (Simonyan & Zisserman 2014), CIFAR variant with BN and a single classifier
# ---------------------------------------------------------------------------------------------

VGG_CFGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


class VGG(nn.Module):
    """Conv3×3(+bias)-BN-ReLU stacks with 2×2 max-pools, global average pool (the identity on the
    1×1 map of a 32×32 input; the mean over the 2×2 map of a 64×64 input), (dropout,) one
    512→C dense layer."""

    cfg: Sequence[Any]
    num_classes: int
    dropout: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        for v in self.cfg:
            if v == "M":
                x = _max_pool(x, 2)
            else:
                x = nn.relu(_bn(train)(_conv(int(v), 3, bias=True, impl=self.conv_impl)(x)))
        x = _global_pool(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# AlexNet, CIFAR size (Krizhevsky et al. 2012 layout, scaled to 32×32 / 64×64)
# ---------------------------------------------------------------------------------------------


class AlexNet(nn.Module):
    """Five convs (64 5×5, 192 5×5, 384 3×3, 256 3×3, 256 3×3, ReLU, 2×2 max-pools after the 1st,
    2nd and 5th), average-pooled to a 4×4 map (identity for 32×32 inputs), then the AlexNet
    classifier at CIFAR width: dropout → 1024 → ReLU → dropout → 1024 → ReLU → C. No batch norm
    (AlexNet has none); dropout (default 0.5) is the architecture's."""

    num_classes: int
    dropout: float = 0.5
    hidden: int = 1024
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = _max_pool(nn.relu(_conv(64, 5, bias=True, impl=self.conv_impl)(x)), 2)
        x = _max_pool(nn.relu(_conv(192, 5, bias=True, impl=self.conv_impl)(x)), 2)
        x = nn.relu(_conv(384, 3, bias=True, impl=self.conv_impl)(x))
        x = nn.relu(_conv(256, 3, bias=True, impl=self.conv_impl)(x))
        x = _max_pool(nn.relu(_conv(256, 3, bias=True, impl=self.conv_impl)(x)), 2)
        h = x.shape[1]
        if h != 4:
            # Adaptive average pool to 4×4 (torchvision uses AdaptiveAvgPool2d for the same reason).
            if h % 4 or x.shape[2] != h:
                raise ValueError(
                    f"AlexNet needs square inputs whose side is a multiple of 32; the "
                    f"feature map is {x.shape[1]}×{x.shape[2]}"
                )
            x = nn.avg_pool(x, (h // 4, h // 4), strides=(h // 4, h // 4))
        x = x.reshape(x.shape[0], -1)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.relu(nn.Dense(self.hidden)(x))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# DenseNet-121 (Huang et al. 2017), CIFAR stem
# ---------------------------------------------------------------------------------------------


class DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (4g) - BN-ReLU-3×3 conv (g), concatenated to the input."""

    growth: int
    impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool):
        out = _conv(4 * self.growth, 1, padding=0, impl=self.impl)(nn.relu(_bn(train)(x)))
        out = _conv(self.growth, 3, impl=self.impl)(nn.relu(_bn(train)(out)))
        return jnp.concatenate([out, x], axis=-1)


class DenseNet(nn.Module):
    """Stem 3×3 conv to 2g channels, dense blocks ``blocks`` with growth g separated by transitions
    (BN-ReLU-1×1 conv to ``floor(reduction·c)`` channels, 2×2 average pool), final BN-ReLU, global
    pool, (dropout,) dense. DenseNet-121: ``blocks=(6, 12, 24, 16)``, g = 32, reduction 0.5."""

    blocks: Sequence[int]
    num_classes: int
    growth: int = 32
    reduction: float = 0.5
    dropout: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = _conv(2 * self.growth, 3, impl=self.conv_impl)(x)
        for i, n in enumerate(self.blocks):
            for _ in range(n):
                x = DenseLayer(self.growth, impl=self.conv_impl)(x, train)
            if i < len(self.blocks) - 1:
                out_ch = int(x.shape[-1] * self.reduction)
                x = _conv(out_ch, 1, padding=0, impl=self.conv_impl)(nn.relu(_bn(train)(x)))
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = _global_pool(nn.relu(_bn(train)(x)))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# SENet-18 (Hu et al. 2018): pre-activation ResNet-18 blocks with squeeze-and-excitation
# ---------------------------------------------------------------------------------------------


class SEPreActBlock(nn.Module):
    """Pre-activation basic block; the residual branch is rescaled channel-wise by
    ``sigmoid(W2 relu(W1 mean_hw(out)))`` (reduction 16) before the addition."""

    planes: int
    stride: int = 1
    impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool):
        out = nn.relu(_bn(train)(x))
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.planes:
            shortcut = _conv(self.planes, 1, self.stride, padding=0, impl=self.impl)(out)
        out = _conv(self.planes, 3, self.stride, impl=self.impl)(out)
        out = _conv(self.planes, 3, impl=self.impl)(nn.relu(_bn(train)(out)))
        w = jnp.mean(out, axis=(1, 2), keepdims=True)
        w = nn.relu(_conv(self.planes // 16, 1, bias=True, padding=0, impl=self.impl)(w))
        w = nn.sigmoid(_conv(self.planes, 1, bias=True, padding=0, impl=self.impl)(w))
        return out * w + shortcut


class SENet(nn.Module):
    """3×3/64 stem + BN + ReLU, SE pre-activation blocks (64, 128, 256, 512; ``stages``), global
    pool, (dropout,) dense. SENet-18: ``stages=(2, 2, 2, 2)``."""

    stages: Sequence[int]
    num_classes: int
    dropout: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(_bn(train)(_conv(64, 3, impl=self.conv_impl)(x)))
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), self.stages)):
            for j in range(n):
                x = SEPreActBlock(planes, (1 if i == 0 else 2) if j == 0 else 1, impl=self.conv_impl)(x, train)
        x = _global_pool(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# EfficientNet-B0 (Tan & Le 2019), CIFAR stem (stride 1)
# ---------------------------------------------------------------------------------------------

# (expand ratio, out channels, repeats, first stride, kernel) — the B0 table of the paper.
_B0_STAGES = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand (BN, swish) → k×k depthwise (BN, swish) → squeeze-excite
    (``max(1, c_in // 4)`` channels) → 1×1 project (BN); identity skip with stochastic depth
    (drop-connect, rate ``drop_rate``) when the stride is 1 and channels match."""

    expand: int
    out_ch: int
    stride: int
    kernel: int
    drop_rate: float
    impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool):
        c_in = x.shape[-1]
        hidden = c_in * self.expand
        out = x
        if self.expand != 1:
            out = nn.swish(_bn(train, eps=1e-3)(_conv(hidden, 1, padding=0, impl=self.impl)(out)))
        out = nn.swish(
            _bn(train, eps=1e-3)(_conv(hidden, self.kernel, self.stride, groups=hidden, impl=self.impl)(out))
        )
        s = jnp.mean(out, axis=(1, 2), keepdims=True)
        s = nn.swish(_conv(max(1, c_in // 4), 1, bias=True, padding=0, impl=self.impl)(s))
        out = out * nn.sigmoid(_conv(hidden, 1, bias=True, padding=0, impl=self.impl)(s))
        out = _bn(train, eps=1e-3)(_conv(self.out_ch, 1, padding=0, impl=self.impl)(out))
        if self.stride == 1 and c_in == self.out_ch:
            if train and self.drop_rate > 0:
                # Drop the whole residual branch per example, rescale the survivors (stochastic depth).
                keep = 1.0 - self.drop_rate
                mask = jax.random.bernoulli(self.make_rng("dropout"), keep, (out.shape[0], 1, 1, 1))
                out = jnp.where(mask, out / keep, 0.0)
            out = out + x
        return out


class EfficientNet(nn.Module):
    """EfficientNet-B0: 3×3/32 stem (stride 1 for small images), the seven MBConv stages of B0,
    1×1/1280 head (BN, swish), global pool, dropout (B0: 0.2), dense. Drop-connect rate rises
    linearly from 0 to ``drop_connect`` over the 16 blocks, as in the reference implementation."""

    num_classes: int
    dropout: float = 0.2
    drop_connect: float = 0.2
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.swish(_bn(train, eps=1e-3)(_conv(32, 3, impl=self.conv_impl)(x)))
        total = sum(s[2] for s in _B0_STAGES)
        b = 0
        for expand, out_ch, repeats, stride, kernel in _B0_STAGES:
            for j in range(repeats):
                x = MBConv(
                    expand, out_ch, stride if j == 0 else 1, kernel, self.drop_connect * b / total, impl=self.conv_impl
                )(x, train)
                b += 1
        x = nn.swish(_bn(train, eps=1e-3)(_conv(1280, 1, padding=0, impl=self.conv_impl)(x)))
        x = _global_pool(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# ConvMixer (Trockman & Kolter 2022)
# ---------------------------------------------------------------------------------------------


class ConvMixer(nn.Module):
    """Patch embedding (p×p conv, stride p, GELU, BN), then ``depth`` blocks of
    [residual: depthwise k×k conv, GELU, BN] → pointwise 1×1 conv, GELU, BN; global pool,
    (dropout,) dense. CIFAR default ConvMixer-256/8 with k = 5, p = 2."""

    num_classes: int
    dim: int = 256
    depth: int = 8
    kernel: int = 5
    patch: int = 2
    dropout: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = _bn(train)(nn.gelu(_conv(self.dim, self.patch, self.patch, bias=True, padding=0, impl=self.conv_impl)(x)))
        for _ in range(self.depth):
            x = x + _bn(train)(
                nn.gelu(_conv(self.dim, self.kernel, bias=True, groups=self.dim, impl=self.conv_impl)(x))
            )
            x = _bn(train)(nn.gelu(_conv(self.dim, 1, bias=True, padding=0, impl=self.conv_impl)(x)))
        x = _global_pool(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


# ---------------------------------------------------------------------------------------------
# A small CNN for CPU tests and quick experiments
# ---------------------------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """``len(widths)`` blocks of 3×3 conv (no bias) - BN - ReLU - 2×2 max-pool, global pool,
    (dropout,) dense. Every conv is 3×3, so every layer has a weight spectrum (fr-ssr)."""

    num_classes: int
    widths: Sequence[int] = (16, 32, 64)
    dropout: float = 0.0
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        for w in self.widths:
            x = nn.relu(_bn(train)(_conv(int(w), 3, impl=self.conv_impl)(x)))
            if x.shape[1] >= 2 and x.shape[2] >= 2:
                x = _max_pool(x, 2)
        x = _global_pool(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)
