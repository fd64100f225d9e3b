"""Pure-functional models: MLPs, the LFP two-layer ReLU network, antisymmetric init.

The CNN zoo lives in :mod:`fpjax.cnn`.
"""

from fpjax._src.models import ACTIVATIONS, INITS, Model, activation_fn, asi, mlp, num_params, two_layer_relu

__all__ = ["Model", "mlp", "two_layer_relu", "asi", "activation_fn", "num_params", "ACTIVATIONS", "INITS"]
