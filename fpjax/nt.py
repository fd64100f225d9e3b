"""neural-tangents on current JAX, in one line: ``from fpjax import nt``.

neural-tangents 0.6.5, its latest release, was written for JAX 0.4 and does not import on current
JAX. Importing this module applies fpjax's compatibility layer (``fpjax._src.nt_compat``) and then
forwards every attribute to the ``neural_tangents`` package, so ``nt.stax``, ``nt.predict``,
``nt.empirical_ntk_fn``, ``nt.batch``, ``nt.taylor_expand``, ... are neural-tangents' own. After
the import, a plain ``import neural_tangents`` works too in the same process.

What the layer repairs, besides the names JAX moved:

* ``empirical_ntk_fn(..., implementation=nt.NtkImplementation.AUTO)`` picks the cheaper of
  implementations 1 (Jacobian contraction) and 2 (NTK-vector products) by XLA's flop count;
* ``predict.gradient_descent_mse`` runs under ``jit`` also when the kernel itself is traced;
* ``predict.max_learning_rate`` works on current scipy and under ``jit``.

Refused with a message naming the replacement: implementation 3 (structured derivatives) of
``empirical_ntk_fn`` (use 1, 2, AUTO or :func:`fpjax.ntk.empirical_ntk`), and
``neural_tangents.experimental`` (needs TensorFlow, which fpjax does not install). If a future JAX
breaks the layer, this import raises :class:`fpjax.ntk.NeuralTangentsUnavailable` (an
``ImportError``) saying what broke.

Example:
  >>> from fpjax import nt
  >>> import jax.numpy as jnp
  >>> _, _, kernel_fn = nt.stax.serial(nt.stax.Dense(512), nt.stax.Relu(), nt.stax.Dense(1))
  >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  >>> round(float(kernel_fn(x, None, "ntk")[0, 1]), 6)  # 1/(4π): orthogonal inputs, ReLU, no bias
  0.079577

References:
  Novak et al. (2020), "Neural Tangents: Fast and Easy Infinite Neural Networks in Python", ICLR.
  Novak, Sohl-Dickstein, Schoenholz (2022), "Fast Finite Width Neural Tangent Kernel", ICML.
"""

from fpjax._src import nt_compat as _nt_compat

_nt = _nt_compat.require()


def __getattr__(name):
    return getattr(_nt, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_nt)))
