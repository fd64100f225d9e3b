"""CNN model zoo and CNN training (the hys4-cnn-bandwidth, fr-ssr and fr-robustness experiments).

Models: ``get_model(name, num_classes, *, dropout=None, **options) -> CNN`` with
``variables = model.init(key, x)`` and ``logits, batch_stats = model.apply(variables, x, train=...,
key=...)`` on NHWC inputs (32×32 and 64×64); ``model.eval_fn(variables)`` gives ``f(params, x)``
with batch norm in eval mode (for :mod:`fpjax.hessian` / :mod:`fpjax.spectrum`);
``model.with_conv_impl("patches" | "lax" | "auto")`` switches the convolution implementation
(same parameters; im2col on CPU keeps convolution gradients inside loops fast).
Training: :func:`train_cnn` (SGD + momentum, coupled L2 weight decay, jitted step loop or
per-epoch ``lax.scan``, recording of any function of the params every epoch) returns the
:class:`fpjax.train.FitResult` of :func:`fpjax.train.fit` (``losses`` per optimizer step,
``state`` = batch-norm statistics, ``metrics`` = :class:`CNNMetrics`); :func:`cnn_variables` gives
its flax variables back. Also :func:`evaluate_cnn`, :func:`pretrain_shuffled_labels`
(high-bandwidth initialisation), :func:`spatial_kernels`.
"""

from fpjax._src.cnn import CNN, MODEL_NAMES, get_model, num_params, spatial_kernels
from fpjax._src.cnn_train import (
    CNNEvaluation,
    CNNMetrics,
    cnn_variables,
    evaluate_cnn,
    make_sgd,
    pretrain_shuffled_labels,
    shuffle_labels,
    train_cnn,
)

__all__ = [
    "CNN",
    "MODEL_NAMES",
    "get_model",
    "num_params",
    "spatial_kernels",
    "CNNMetrics",
    "CNNEvaluation",
    "cnn_variables",
    "train_cnn",
    "evaluate_cnn",
    "make_sgd",
    "pretrain_shuffled_labels",
    "shuffle_labels",
]
