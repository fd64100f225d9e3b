"""Weight spectra of convolution kernels, the Spectral Suppression Ratio and input-gradient
statistics (measures of how much high-frequency content a CNN's weights and function carry).

Kernel layout is Flax's ``nn.Conv``: ``(kh, kw, c_in, c_out)``; a single ``(kh, kw)`` kernel is also
accepted. Frequencies of the padded ``P×P`` DFT are integers ``u, v ∈ {-⌊P/2⌋, …, ⌈P/2⌉ - 1}``
(cycles per ``P`` pixels), centred so that index ``⌊P/2⌋`` is the zero frequency.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.checks import (
    as_array,
    check_finite,
    check_memory,
    check_no_complex,
    check_positive,
    check_positive_int,
    safe_ratio,
)

__all__ = [
    "GradientHistogram",
    "LayerProfiles",
    "RadialProfile",
    "conv_kernels",
    "conv_layer_high_freq_energy",
    "conv_layer_profiles",
    "high_freq_energy",
    "input_gradient_histogram",
    "kernel_power_spectrum",
    "radial_profile",
    "ssr",
    "ssr_accumulation",
]


class RadialProfile(NamedTuple):
    """Result of :func:`radial_profile`: ``radii`` int ``(R,)`` and ``profile`` ``(..., R)``.

    Attributes:
      radii: int ``(R,)``, the integer radii ``0..R−1`` of the rings around the zero frequency.
      profile: ``(..., R)``, the mean power on each ring.

    Examples:
      >>> import numpy as np
      >>> delta = np.zeros((3, 3)); delta[1, 1] = 1.0          # a delta kernel: flat spectrum
      >>> rp = radial_profile(kernel_power_spectrum(delta, pad=8))
      >>> rp.radii.tolist(), np.round(np.asarray(rp.profile), 4).tolist()
      ([0, 1, 2, 3, 4, 5, 6], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """

    radii: jax.Array
    profile: jax.Array


class LayerProfiles(NamedTuple):
    """Result of :func:`conv_layer_profiles`: ``radii`` ``(R,)`` and ``profiles``, a dict layer path →
    ``(*batch, R)`` radial profile (one entry per conv layer, in pytree order).

    Examples:
      >>> import numpy as np
      >>> params = {"params": {"Conv_0": {"kernel": np.ones((3, 3, 1, 2))}}}
      >>> lp = conv_layer_profiles(params, pad=8)
      >>> lp.radii.shape, {name: p.shape for name, p in lp.profiles.items()}
      ((7,), {'params/Conv_0/kernel': (7,)})
    """

    radii: jax.Array
    profiles: dict


def _real(arr: jax.Array, name: str) -> jax.Array:
    """``arr`` as a real float array: energies and power spectra are real, so complex is a ``TypeError``."""
    check_no_complex(arr, name)
    return _to_float(arr)


def _to_float(arr: jax.Array) -> jax.Array:
    return arr if jnp.issubdtype(arr.dtype, jnp.inexact) else arr.astype(jnp.asarray(0.0).dtype)


def kernel_power_spectrum(w: ArrayLike, pad: int = 32) -> jax.Array:
    """Centred power spectrum ``|Ŵ(u, v)|²`` of conv kernels zero-padded to ``pad × pad``.

    ``Ŵ(u, v) = Σ_{i<kh, j<kw} w[i, j] exp(-2πi (u i + v j)/P)`` (the 2-D DFT of the kernel placed in
    the corner of a ``P×P`` zero array; the placement only changes the phase, not the power), then
    ``|Ŵ|²`` averaged over input and output channels, then fftshifted so that ``[..., P//2, P//2]``
    is ``(u, v) = (0, 0)``. Padding makes the frequency grid fine enough for a meaningful radial
    profile (a 3×3 kernel alone only has radii {0, 1, √2}).

    Computed without the ``(c_in, c_out, P, P)`` array of per-channel spectra (2 GiB for a 512×512
    layer at ``P = 32``): by Wiener–Khinchin, the channel mean of ``|Ŵ|²`` is the DFT of the channel
    mean of the kernel's spatial autocorrelation ``A[i, j, k, l] = mean_{ab} w[i,j,a,b] w[k,l,a,b]``,
    ``|Ŵ(u, v)|² = Σ_{ijkl} A[i,j,k,l] e^{-2πi(u(i-k) + v(j-l))/P}``, which needs ``(kh·kw)²`` numbers
    per kernel. The ``(..., P, P)`` result is checked against the available memory first.

    Args:
      w: ``(kh, kw)`` single kernel, or ``(..., kh, kw, c_in, c_out)`` (Flax ``nn.Conv`` layout) with
        optional leading batch axes (seeds, epochs). A 3-D array is ambiguous and rejected.
      pad: ``P ≥ max(kh, kw)`` (default 32).

    Returns:
      ``(P, P)`` or ``(..., P, P)`` real power.

    Examples:
      >>> import numpy as np
      >>> p = kernel_power_spectrum(np.ones((3, 3)), pad=8)
      >>> p.shape, round(float(p[4, 4]), 4)            # zero frequency: (Σ w)² = 81
      ((8, 8), 81.0)
    """
    arr = as_array(w, "w")
    pad = check_positive_int(pad, "pad")
    if arr.ndim == 2:
        arr = arr[:, :, None, None]
    elif arr.ndim < 4:
        raise ValueError(
            "w must be a (kh, kw) kernel or have shape (..., kh, kw, c_in, c_out) "
            f"(Flax conv layout); got shape {tuple(arr.shape)}"
        )
    if arr.size == 0:
        raise ValueError(f"w must not be empty; got shape {tuple(arr.shape)}")
    check_finite(arr, "w")
    kh, kw = arr.shape[-4], arr.shape[-3]
    if pad < max(kh, kw):
        raise ValueError(f"pad must be >= the kernel size max(kh, kw) = {max(kh, kw)}; got {pad}")
    arr = _to_float(arr)
    batch = int(np.prod(arr.shape[:-4], dtype=np.int64)) if arr.ndim > 4 else 1
    itemsize = np.dtype(arr.dtype).itemsize
    # Output plus the (P, kw, kw) complex and (P, P) temporaries per kernel.
    nbytes = batch * itemsize * (3 * pad * pad + 4 * pad * kw * kw + (kh * kw) ** 2)
    check_memory(nbytes, "pad", f"the ({pad}, {pad}) power spectra of {batch} kernel(s)")
    return _power(arr, pad)


@functools.partial(jax.jit, static_argnames=("pad",))
def _power(arr: jax.Array, pad: int) -> jax.Array:
    hp = jax.lax.Precision.HIGHEST
    kh, kw, c_in, c_out = arr.shape[-4:]
    # Channel-mean spatial autocorrelation A[..., i, j, k, l] (Wiener–Khinchin, see the docstring).
    a = jnp.einsum("...ijab,...klab->...ijkl", arr, arr, precision=hp) / (c_in * c_out)
    u = np.arange(pad) - pad // 2
    th_i = 2 * np.pi * np.outer(u, np.arange(kh)) / pad  # (P, kh)
    th_j = 2 * np.pi * np.outer(u, np.arange(kw)) / pad  # (P, kw)
    ei = jnp.asarray(np.exp(-1j * th_i), jnp.result_type(arr.dtype, jnp.complex64))
    ej = jnp.asarray(np.exp(-1j * th_j), ei.dtype)
    ac = a.astype(ei.dtype)
    # B[u, j, l] = Σ_ik e_i(u) A[i,j,k,l] conj(e_k(u)); P[u, v] = Σ_jl e_j(v) B[u,j,l] conj(e_l(v)).
    b = jnp.einsum("ui,...ijkl,uk->...ujl", ei, ac, jnp.conj(ei), precision=hp)
    p = jnp.einsum("vj,...ujl,vl->...uv", ej, b, jnp.conj(ej), precision=hp)
    return jnp.real(p)


@functools.lru_cache(maxsize=32)
def _radial_bins(p: int, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.arange(p) - p // 2
    v = np.arange(q) - q // 2
    r = np.rint(np.sqrt(u[:, None] ** 2 + v[None, :] ** 2)).astype(np.int64).ravel()
    # √(integer) is never exactly m + 1/2, so rounding has no ties.
    radii, inv, counts = np.unique(r, return_inverse=True, return_counts=True)
    return radii, inv, counts


def radial_profile(power: ArrayLike) -> RadialProfile:
    """Discrete radial profile of a centred 2-D power spectrum: mean power per integer radius.

    Bins ``r = round(√(u² + v²))`` over the centred integer frequency grid
    ``u ∈ {-⌊P/2⌋, …, ⌈P/2⌉-1}`` (same for ``v`` with ``Q``) and averages the power in each bin.
    Only radii that occur are returned (for ``P = Q = 32``: every ``r = 0, …, 23``).

    Args:
      power: ``(..., P, Q)`` centred power (as from :func:`kernel_power_spectrum`).

    Returns:
      :class:`RadialProfile` ``(radii, profile)``: ``radii`` int ``(R,)``, ``profile`` ``(..., R)``.

    Examples:
      >>> import numpy as np
      >>> radii, prof = radial_profile(np.ones((8, 8)))
      >>> radii.tolist()[:3], float(prof[0])
      ([0, 1, 2], 1.0)
    """
    pw = as_array(power, "power")
    check_no_complex(pw, "power")
    if pw.ndim < 2:
        raise ValueError(f"power must have shape (..., P, Q); got shape {tuple(pw.shape)}")
    if pw.size == 0:
        raise ValueError(f"power must not be empty; got shape {tuple(pw.shape)}")
    check_finite(pw, "power")
    pw = _to_float(pw)
    radii, inv, counts = _radial_bins(int(pw.shape[-2]), int(pw.shape[-1]))
    flat = pw.reshape(pw.shape[:-2] + (-1,))
    # Bin averaging as a (P·Q, R) matrix product: batched, differentiable, one XLA op.
    onehot = np.zeros((inv.size, radii.size))
    onehot[np.arange(inv.size), inv] = 1.0 / counts[inv]
    return RadialProfile(
        jnp.asarray(radii), jnp.matmul(flat, jnp.asarray(onehot, flat.dtype), precision=jax.lax.Precision.HIGHEST)
    )


def high_freq_energy(profile: ArrayLike, radii: ArrayLike, r_c: float | None = None, *, pad: int = 32) -> jax.Array:
    """High-frequency energy ``E_hi = Σ_{r > r_c} P(r) / Σ_r P(r)`` of radial profiles.

    Args:
      profile: ``(..., R)`` mean power per radius (from :func:`radial_profile`).
      radii: ``(R,)`` the radii.
      r_c: cut-off radius; default ``pad/4``.
      pad: the ``P`` used for the spectrum (only read when ``r_c`` is None). When the profile covers
        a full centred ``P×P`` grid its largest radius is ``round(√2·⌊P/2⌋)``; a mismatch raises, so a
        wrong default cut-off cannot pass silently.

    Returns:
      ``(...)`` values in [0, 1]; an all-zero profile gives 0 (no energy anywhere).

    Examples:
      >>> import numpy as np
      >>> radii, prof = radial_profile(kernel_power_spectrum(np.ones((3, 3)), pad=32))
      >>> bool(high_freq_energy(prof, radii) < 0.0625)     # a constant kernel is low-pass
      True
    """
    prof = as_array(profile, "profile")
    check_no_complex(prof, "profile")
    rad = np.asarray(as_array(radii, "radii"))
    if rad.ndim != 1 or rad.size == 0:
        raise ValueError(f"radii must be a non-empty 1-D array; got shape {rad.shape}")
    if prof.ndim < 1 or prof.shape[-1] != rad.shape[0]:
        raise ValueError(
            f"profile must have shape (..., R) with R = len(radii) = {rad.shape[0]}; got shape {tuple(prof.shape)}"
        )
    check_finite(prof, "profile")
    if r_c is None:
        pad = check_positive_int(pad, "pad")
        expected = int(np.rint(np.sqrt(2.0) * (pad // 2)))
        if int(rad.max()) != expected:
            raise ValueError(
                f"radii go up to {int(rad.max())}, but a {pad}x{pad} spectrum goes up to "
                f"{expected}: pass the pad used for kernel_power_spectrum, or r_c explicitly"
            )
        r_c = pad / 4
    else:
        r_c = check_positive(r_c, "r_c", allow_zero=True)
    prof = _to_float(prof)
    mask = jnp.asarray(rad > r_c, prof.dtype)
    hi = jnp.matmul(prof, mask, precision=jax.lax.Precision.HIGHEST)
    total = jnp.sum(prof, axis=-1)
    # A fraction of a total (hi <= total): an all-zero total has no energy anywhere, 0/0 := 0.
    return safe_ratio(hi, total)


def _ratio(num, den):
    # A ratio of two measured quantities: x/0 := ±inf (sign of x), 0/0 := NaN (undefined, and
    # visible as such rather than silently 0 or 1).
    zero = den == 0
    safe = jnp.where(zero, jnp.ones_like(den), den)
    return jnp.where(zero, jnp.where(num == 0, jnp.nan, jnp.sign(num) * jnp.inf), num / safe)


def ssr(e_hi_unreg: ArrayLike, e_hi_reg: ArrayLike) -> jax.Array:
    """Spectral Suppression Ratio ``SSR = E_hi(unregularized) / E_hi(regularized)`` (broadcast).

    SSR > 1: the regularizer suppresses high frequencies. Zero denominators: x/0 := inf,
    0/0 := NaN (undefined).

    Examples:
      >>> ssr([0.3, 0.2], 0.1).tolist()
      [3.0, 2.0]
    """
    a = _real(as_array(e_hi_unreg, "e_hi_unreg"), "e_hi_unreg")
    b = _real(as_array(e_hi_reg, "e_hi_reg"), "e_hi_reg")
    _check_pair(a, "e_hi_unreg", b, "e_hi_reg")
    return _ratio(a, b)


def ssr_accumulation(e0_unreg: ArrayLike, eT_unreg: ArrayLike, e0_reg: ArrayLike, eT_reg: ArrayLike) -> jax.Array:
    """Accumulation form ``SSR_Δ = (E_hi,T − E_hi,0)_unreg / (E_hi,T − E_hi,0)_reg`` (broadcast).

    Measures how much high-frequency energy each run *gained* from initialization to the end of
    training. Zero denominators: x/0 := ±inf (sign of the numerator), 0/0 := NaN.

    Args:
      e0_unreg, eT_unreg: ``E_hi`` of the unregularized run at initialization and at the end.
      e0_reg, eT_reg: the same for the regularized run. Any shapes that broadcast together.

    Returns:
      ``SSR_Δ`` with the broadcast shape.

    Examples:
      >>> ssr_accumulation(0.1, 0.4, 0.1, 0.2).tolist()          # gained 0.3 against 0.1
      3.0
      >>> ssr_accumulation([0.1, 0.1], [0.4, 0.1], 0.1, [0.2, 0.1]).tolist()   # 0/0 is undefined
      [3.0, nan]
    """
    arrs = [
        _real(as_array(v, n), n)
        for v, n in ((e0_unreg, "e0_unreg"), (eT_unreg, "eT_unreg"), (e0_reg, "e0_reg"), (eT_reg, "eT_reg"))
    ]
    names = ("e0_unreg", "eT_unreg", "e0_reg", "eT_reg")
    for a, n in zip(arrs, names):
        if a.size == 0:
            raise ValueError(f"{n} must not be empty")
        check_finite(a, n)
    try:
        np.broadcast_shapes(*(a.shape for a in arrs))
    except ValueError:
        raise ValueError(
            f"e0_unreg, eT_unreg, e0_reg, eT_reg must broadcast together; got shapes {[tuple(a.shape) for a in arrs]}"
        ) from None
    return _ratio(arrs[1] - arrs[0], arrs[3] - arrs[2])


def _check_pair(a, an, b, bn):
    for arr, nm in ((a, an), (b, bn)):
        if arr.size == 0:
            raise ValueError(f"{nm} must not be empty")
        check_finite(arr, nm)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{an} and {bn} must broadcast together; got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        ) from None


def _path_name(path) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _natural_key(name: str) -> list:
    # Pytree dicts flatten in sorted key order ("Conv_10" < "Conv_2"); Flax numbers submodules in
    # creation order, so sorting the digit runs as numbers restores the input-to-output order.
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]


def conv_kernel_items(params: PyTree, *, batch_ndim: int = 0, min_size: int = 1) -> list[tuple[str, jax.Array]]:
    """``(path, kernel)`` pairs of the conv kernels of a params pytree, in natural layer order.

    The one conv-kernel extractor behind :func:`conv_kernels` and :func:`fpjax.cnn.spatial_kernels`:
    a leaf counts when it has ``4 + batch_ndim`` dimensions (Flax ``(kh, kw, c_in, c_out)`` after
    ``batch_ndim`` leading axes) and ``min(kh, kw) >= min_size``. Paths (``"params/Conv_0/kernel"``)
    are sorted with digit runs compared as numbers (``Conv_2`` before ``Conv_10``).
    """
    batch_ndim = check_positive_int(batch_ndim, "batch_ndim", minimum=0)
    min_size = check_positive_int(min_size, "min_size")
    items = [
        (_path_name(path), leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
        if hasattr(leaf, "ndim")
        and leaf.ndim == 4 + batch_ndim
        and min(leaf.shape[batch_ndim : batch_ndim + 2]) >= min_size
    ]
    return sorted(items, key=lambda kv: _natural_key(kv[0]))


def conv_kernels(params: PyTree, *, batch_ndim: int = 0) -> dict[str, jax.Array]:
    """All conv kernels in a params pytree, keyed by their path (e.g. ``"params/Conv_0/kernel"``).

    A leaf counts as a conv kernel when it has ``4 + batch_ndim`` dimensions (Flax layout
    ``(kh, kw, c_in, c_out)`` after ``batch_ndim`` leading axes, e.g. 1 for params recorded over
    epochs or stacked over seeds). Natural layer order: ``Conv_2`` before ``Conv_10`` (Flax numbers
    layers in creation order; see :func:`conv_kernel_items`).

    Examples:
      >>> import numpy as np
      >>> k = {"kernel": np.ones((3, 3, 1, 4)), "bias": np.ones(4)}
      >>> list(conv_kernels({"params": {"Conv_10": k, "Conv_2": k}}))
      ['params/Conv_2/kernel', 'params/Conv_10/kernel']
    """
    out = dict(conv_kernel_items(params, batch_ndim=batch_ndim))
    if not out:
        raise ValueError(
            f"params contains no conv kernels with {4 + batch_ndim} dimensions "
            f"((kh, kw, c_in, c_out) after {batch_ndim} batch axes)"
        )
    return out


def conv_layer_profiles(params: PyTree, pad: int = 32, *, batch_ndim: int = 0) -> LayerProfiles:
    """Radial weight-spectrum profiles of every conv layer of a Flax CNN params pytree.

    Returns:
      :class:`LayerProfiles` ``(radii, profiles)``: ``radii`` ``(R,)``; ``profiles`` a dict path →
      ``(*batch, R)`` profile (:func:`kernel_power_spectrum` then :func:`radial_profile`).

    Args:
      params: a params pytree; its conv kernels are found by :func:`conv_kernels`.
      pad: DFT size ``P`` of each kernel (zero-padded to ``P×P``); ``R`` radii result.
      batch_ndim: leading batch axes of every kernel (e.g. 1 for params recorded over epochs).

    Examples:
      >>> import numpy as np
      >>> delta = np.zeros((3, 3, 1, 1)); delta[1, 1] = 1.0
      >>> params = {"params": {"Conv_0": {"kernel": delta, "bias": np.zeros(1)}}}
      >>> radii, profiles = conv_layer_profiles(params, pad=8)
      >>> radii.tolist(), np.round(np.asarray(profiles["params/Conv_0/kernel"]), 4).tolist()
      ([0, 1, 2, 3, 4, 5, 6], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
      >>> stacked = {"params": {"Conv_0": {"kernel": np.stack([delta] * 4)}}}   # 4 recorded epochs
      >>> conv_layer_profiles(stacked, pad=8, batch_ndim=1).profiles["params/Conv_0/kernel"].shape
      (4, 7)
    """
    kernels = conv_kernels(params, batch_ndim=batch_ndim)
    radii, profiles = None, {}
    for name, k in kernels.items():
        radii, profiles[name] = radial_profile(kernel_power_spectrum(k, pad))
    return LayerProfiles(radii, profiles)


def conv_layer_high_freq_energy(
    params: PyTree, pad: int = 32, r_c: float | None = None, *, batch_ndim: int = 0
) -> dict[str, jax.Array]:
    """``E_hi`` (default ``r_c = pad/4``) of every conv layer: dict path → ``(*batch,)`` array.

    ``E_hi`` is the fraction of a layer's kernel power at radii ``r > r_c`` (:func:`high_freq_energy`
    of :func:`conv_layer_profiles`).

    Args:
      params: a params pytree; pad: DFT size; r_c: cutoff radius (default ``pad/4``);
      batch_ndim: leading batch axes of every kernel.

    Examples:
      >>> import numpy as np
      >>> delta = np.zeros((3, 3, 1, 1)); delta[1, 1] = 1.0          # flat spectrum: much energy high
      >>> params = {"params": {"Conv_0": {"kernel": np.ones((3, 3, 1, 1))}, "Conv_1": {"kernel": delta}}}
      >>> e = conv_layer_high_freq_energy(params, pad=8)
      >>> bool(e["params/Conv_0/kernel"] < e["params/Conv_1/kernel"])    # the box filter is low-pass
      True
    """
    radii, profiles = conv_layer_profiles(params, pad, batch_ndim=batch_ndim)
    return {name: high_freq_energy(p, radii, r_c, pad=pad) for name, p in profiles.items()}


class GradientHistogram(NamedTuple):
    """Histogram of input gradients plus summary statistics (a bandwidth proxy).

    Result of :func:`input_gradient_histogram`.

    Attributes:
      counts: ``(bins,)`` number of gradient entries per bin.
      edges: ``(bins + 1,)`` bin edges.
      std: standard deviation of all gradient entries.
      mean_abs: mean ``|g|``.
      max_abs: max ``|g|``.

    Examples:
      >>> import jax.numpy as jnp
      >>> h = input_gradient_histogram(lambda x: 3.0 * x.sum(axis=1), jnp.ones((4, 2)), bins=4)
      >>> h.edges.tolist(), int(h.counts[-1]), float(h.std), float(h.mean_abs), float(h.max_abs)
      ([-3.0, -1.5, 0.0, 1.5, 3.0], 8, 0.0, 3.0, 3.0)
    """

    counts: jax.Array  # (bins,)
    edges: jax.Array  # (bins + 1,)
    std: jax.Array  # std of all gradient entries
    mean_abs: jax.Array  # mean |g|
    max_abs: jax.Array  # max |g|


def input_gradient_histogram(
    apply_fn: Callable[[jax.Array], jax.Array],
    x: ArrayLike,
    bins: int | ArrayLike = 50,
    *,
    range: tuple[float, float] | None = None,
    batch_size: int | None = None,
) -> GradientHistogram:
    """Histogram of ``g_i = ∂(mean output of sample i)/∂(input pixels of sample i)`` over a batch.

    ``g = ∇_x Σ_i mean_o f(x)_{i,o}``, which is the per-sample gradient whenever ``apply_fn`` treats
    samples independently (batch norm in eval mode). Large, widely spread gradients indicate a
    high-bandwidth function of the input.

    Args:
      apply_fn: ``x -> outputs`` with outputs ``(n, ...)`` (close over the params).
      x: ``(n, ...)`` inputs, e.g. ``(n, H, W, C)`` images.
      bins: number of bins, or an explicit increasing array of edges (use the same edges to
        compare models).
      range: ``(lo, hi)`` histogram range; default symmetric ``(-max|g|, max|g|)``.
      batch_size: evaluate gradients in chunks of this many samples (memory bound); default all.

    Returns:
      :class:`GradientHistogram` ``(counts, edges, std, mean_abs, max_abs)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> f = lambda x: jnp.sin(x).sum(axis=1, keepdims=True)          # ∂f/∂x = cos x
      >>> h = input_gradient_histogram(f, jnp.zeros((5, 3)), bins=2, range=(0.0, 2.0))
      >>> [int(c) for c in h.counts], round(float(h.mean_abs), 4), round(float(h.std), 4)
      ([0, 15], 1.0, 0.0)
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable x -> outputs; got {type(apply_fn).__name__}")
    xx = as_array(x, "x")
    if xx.ndim < 1 or xx.shape[0] == 0 or xx.size == 0:
        raise ValueError(f"x must be a non-empty batch (n, ...); got shape {tuple(xx.shape)}")
    check_finite(xx, "x")
    xx = _to_float(xx)
    n = xx.shape[0]
    bs = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)

    def scalar(xb):
        out = apply_fn(xb)
        return jnp.sum(jnp.mean(jnp.reshape(out, (xb.shape[0], -1)), axis=1))

    grad_fn = jax.jit(jax.grad(scalar))
    grads = jnp.concatenate([grad_fn(xx[i : i + bs]).ravel() for i in np.arange(0, n, bs)])
    if not bool(jnp.all(jnp.isfinite(grads))):
        raise ValueError("apply_fn produced NaN/Inf input gradients")
    max_abs = jnp.max(jnp.abs(grads))
    if isinstance(bins, (int, np.integer)):
        check_positive_int(bins, "bins")
        if range is None:
            m = float(max_abs) if float(max_abs) > 0 else 1.0
            range = (-m, m)
        lo, hi = float(range[0]), float(range[1])
        if not hi > lo:
            raise ValueError(f"range must be (lo, hi) with hi > lo; got {range!r}")
        counts, edges = jnp.histogram(grads, bins=int(bins), range=(lo, hi))
    else:
        e = as_array(bins, "bins")
        if e.ndim != 1 or e.shape[0] < 2 or not bool(jnp.all(jnp.diff(e) > 0)):
            raise ValueError("bins must be a positive integer or an increasing 1-D array of >= 2 edges")
        counts, edges = jnp.histogram(grads, bins=e)
    return GradientHistogram(counts, edges, jnp.std(grads), jnp.mean(jnp.abs(grads)), max_abs)
