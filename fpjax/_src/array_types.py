"""Type aliases of fpjax's public signatures (annotations only: nothing is checked at runtime).

* ``ArrayLike`` (:data:`jax.typing.ArrayLike`): an input array, a JAX or NumPy array or a Python
  scalar; public entry points accept NumPy input and convert it.
* ``jax.Array`` (used directly): returned arrays, and PRNG keys (typed keys from
  :func:`jax.random.key`).
* ``DTypeLike`` (:data:`jax.typing.DTypeLike`): a dtype, its name or a scalar type.
* ``PyTree`` (:data:`jaxtyping.PyTree`): a pytree of arrays, e.g. a model's ``params`` (nested dicts
  and lists of arrays), a direction in parameter space, or a pytree of per-seed outputs.

Shapes are given in the docstrings (``x_train (n, d)``, ``k_train_train (n, n)``, ...), following
docs/conventions.md.

References:
  P. Kidger, jaxtyping, https://github.com/patrick-kidger/jaxtyping.
"""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike
from jaxtyping import PyTree

__all__ = ["ArrayLike", "DTypeLike", "PyTree"]
