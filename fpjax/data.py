"""Real data sets read from local files, never downloaded.

``load_dataset(name, split="train", data_dir=None, *, checksums=None, **options) -> Dataset(x, y)``
for ``cifar10``, ``cifar100``, ``tiny_imagenet`` (files under ``data_dir`` or ``$FPJAX_DATA``) and
the data shipped with scikit-learn: ``digits`` (8×8), ``digits32`` (upscaled to 32×32×3),
``diabetes``. Images are float32 NHWC in [0, 1]. See :mod:`fpjax._src.data` for file layouts,
checksum policy and the pickle-free CIFAR reader.
"""

from fpjax._src.data import (
    DATASET_NAMES,
    KNOWN_CHECKSUMS,
    MAX_IMAGE_PIXELS,
    ChecksumError,
    Dataset,
    DatasetNotFoundError,
    UnsafePathError,
    UnsafePickleError,
    load_cifar10,
    load_cifar100,
    load_dataset,
    load_diabetes,
    load_digits,
    load_sample_photo,
    load_tiny_imagenet,
    resolve_data_dir,
    standardize,
    upscale_images,
    write_sha256sums,
)
from fpjax._src.safe_pickle import safe_unpickle

__all__ = [
    "DATASET_NAMES",
    "KNOWN_CHECKSUMS",
    "MAX_IMAGE_PIXELS",
    "ChecksumError",
    "Dataset",
    "DatasetNotFoundError",
    "UnsafePathError",
    "UnsafePickleError",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_sample_photo",
    "load_tiny_imagenet",
    "resolve_data_dir",
    "safe_unpickle",
    "standardize",
    "upscale_images",
    "write_sha256sums",
]
