"""CNN model zoo and CNN training (SPEC §2.2 CNNs, §3 hys4 / fr-ssr / fr-robustness).

Models: ``get_model(name, num_classes, *, dropout=None, **options) -> CNN`` with
``variables = model.init(key, x)`` and ``logits, batch_stats = model.apply(variables, x, train=...,
key=...)`` on NHWC inputs (32×32 and 64×64). Training: :func:`train_cnn` (SGD + momentum, coupled
L2 weight decay, per-epoch jitted ``lax.scan``, recording of any function of the params every
epoch), :func:`evaluate`, :func:`pretrain_shuffled_labels` (high-bandwidth initialisation).
"""

from fpjax._src.cnn import CNN, MODEL_NAMES, conv_kernels, get_model, num_params
from fpjax._src.cnn_train import (CNNTrainResult, evaluate, make_sgd, pretrain_shuffled_labels,
                                  shuffle_labels, train_cnn)

__all__ = [
    "CNN", "MODEL_NAMES", "get_model", "num_params", "conv_kernels",
    "CNNTrainResult", "train_cnn", "evaluate", "make_sgd", "pretrain_shuffled_labels",
    "shuffle_labels",
]
