"""Real data sets without network access.

:func:`load_dataset` ``(name, split="train", data_dir=None, ...) -> (x, y)`` with ``x`` float32 and
``y`` int32 numpy arrays (host memory; move them to a device with ``jnp.asarray``):

===================  ==========================================  ===========================
name                 x                                           y
===================  ==========================================  ===========================
``cifar10``          (n, 32, 32, 3) in [0, 1]                    (n,) in 0..9
``cifar100``         (n, 32, 32, 3) in [0, 1]                    fine (0..99) or coarse (0..19)
``tiny_imagenet``    (n, 64, 64, 3) in [0, 1]                    (n,) in 0..199
``digits``           (n, 8, 8, 1) in [0, 1]  (scikit-learn)      (n,) in 0..9
``digits32``         (n, 32, 32, 3) in [0, 1]  (upscaled digits) (n,) in 0..9
``diabetes``         (n, 10), standardized (train mean/std)      (n,) float32 target
===================  ==========================================  ===========================

Images are NHWC in [0, 1] (``uint8 / 255``); :func:`standardize` makes them zero-mean, unit-std per
channel with training-set statistics when wanted. Splits: ``"train"``, ``"test"`` (and ``"all"``
for the scikit-learn sets). Tiny ImageNet's official test set has no labels, so its ``"test"`` is
the 10,000-image labelled validation set (``"val"`` is accepted too).

**Where the files go.** ``data_dir`` argument, else the environment variable ``FPJAX_DATA``.
Accepted layouts (the names of the official archives and the folders they unpack to):

* CIFAR-10: ``cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin`` or
  ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` or either archive
  ``cifar-10-binary.tar.gz`` / ``cifar-10-python.tar.gz`` (read in place, never extracted);
* CIFAR-100: ``cifar-100-binary/{train,test}.bin`` or ``cifar-100-python/{train,test}`` or
  ``cifar-100-binary.tar.gz`` / ``cifar-100-python.tar.gz``;
* Tiny ImageNet: ``tiny-imagenet-200/`` with ``wnids.txt``, ``train/<wnid>/images/*.JPEG``,
  ``val/images/*.JPEG``, ``val/val_annotations.txt``, or the archive ``tiny-imagenet-200.zip``.

When nothing usable is found, one :class:`DatasetNotFoundError` says where to put which files.

**Checksums.** Public checksums exist for the official archives (md5, published on the CIFAR page
and used by torchvision) and, for the python-format CIFAR members, per-file md5s (torchvision's
table); those are built in (``KNOWN_CHECKSUMS``) and verified whenever such a file is read. No
checksum of the individual binary ``.bin`` members or of the Tiny-ImageNet files is published and
none could be computed here (no network), so instead (i) they are verified against the archive when
read from it, (ii) every ``.bin`` file must have the exact size ``records × record_length`` and
labels in range, (iii) a ``SHA256SUMS`` file (``sha256sum`` format) in the data folder is verified
when present — :func:`write_sha256sums` records one after you have checked the archive. Such a
file can only ADD checks: for a file with a built-in checksum both are verified (a swapped file
with a matching ``SHA256SUMS`` is still refused), and two ``SHA256SUMS`` entries that disagree are
an error. (iv) ``checksums={relative_path: "md5:<hex>" | "sha256:<hex>"}``, an explicit decision
in code, adds or replaces expected values (tests use this). A ``SHA256SUMS`` match never lifts a
built-in check: the record count of a ``.bin`` file it vouches for is still checked.
``checksums=False`` turns hash verification and the record-count check off (every ``.bin`` file must
still be a whole number of records with labels in range).

**Hostile files.** Every file is opened through its resolved path and refused
(:class:`UnsafePathError`) if a symbolic link leads outside the data directory; archives are read
in place; single files and archive members larger than any official file are refused before they
are read; Tiny-ImageNet JPEGs are opened lazily and their declared size checked (64×64,
``MAX_IMAGE_PIXELS``) before any pixel is decoded; corrupt or truncated files raise errors that
name the file.

**Pickles.** The python-format CIFAR batches are pickles; they are decoded by
:func:`fpjax._src.safe_pickle.safe_unpickle`, which never imports or calls anything (see there).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike
from fpjax._src.safe_pickle import UnsafePickleError, safe_unpickle

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
    "standardize",
    "upscale_images",
    "write_sha256sums",
]

DATASET_NAMES = ("cifar10", "cifar100", "tiny_imagenet", "digits", "digits32", "diabetes")

KNOWN_CHECKSUMS: dict[str, str] = {
    # official archives (md5 published with the data sets)
    "cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a",
    "cifar-10-binary.tar.gz": "md5:c32a1d4ab5d03f1284b67883e8d87530",
    "cifar-100-python.tar.gz": "md5:eb9058c3a382ffc7106e4002c42a8d85",
    "cifar-100-binary.tar.gz": "md5:03b5dce01913d631647c71ecec9e9cb8",
    "tiny-imagenet-200.zip": "md5:90528d7ca1a48142e341f4ef8d21d0de",
    # members of the python-format archives (the per-file md5s torchvision verifies)
    "cifar-10-batches-py/data_batch_1": "md5:c99cafc152244af753f735de768cd75f",
    "cifar-10-batches-py/data_batch_2": "md5:d4bba439e000b95fd0a9bffe97cbabec",
    "cifar-10-batches-py/data_batch_3": "md5:54ebc095f3ab1f0389bbae665268c751",
    "cifar-10-batches-py/data_batch_4": "md5:634d18415352ddfa80567beed471001a",
    "cifar-10-batches-py/data_batch_5": "md5:482c414d41f54cd18b22e5b47cb7c3cb",
    "cifar-10-batches-py/test_batch": "md5:40351d587109b95175f43aff81a1287e",
    "cifar-100-python/train": "md5:16019d7e3df5f24257cddd939b257f8d",
    "cifar-100-python/test": "md5:f0ef6b0ae62326f3e7ffdfab6717acfc",
}


class Dataset(NamedTuple):
    """A data set split, as returned by :func:`load_dataset` (unpacks as ``x, y = ...``).

    Attributes:
      x: inputs, float32 (images NHWC in [0, 1]).
      y: targets, ``(n,)`` int32 class labels (float32 for ``diabetes``).

    Examples:
      >>> x, y = load_dataset("digits", "test")
      >>> x.shape, y.shape, y.dtype
      ((359, 8, 8, 1), (359,), dtype('int32'))
    """

    x: np.ndarray
    y: np.ndarray


class DatasetNotFoundError(FileNotFoundError):
    """The data set's files are not where fpjax looks; the message says where to put what.

    Examples:
      >>> import tempfile
      >>> from pathlib import Path
      >>> with tempfile.TemporaryDirectory() as empty:
      ...     try:
      ...         load_cifar10("test", empty)
      ...     except DatasetNotFoundError as err:
      ...         print(str(err).replace(str(Path(empty).resolve()), "<data_dir>"))
      CIFAR-10 not found under <data_dir>. Put ONE of the following in that directory:
        (a) the folder cifar-10-batches-bin/ holding data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin (binary version)
        (b) the folder cifar-10-batches-py/ holding data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch (python version)
        (c) the archive cifar-10-binary.tar.gz or cifar-10-python.tar.gz itself
      The archives are the official downloads; they are read in place (never extracted) and their md5 is verified. fpjax never downloads anything.
    """


class ChecksumError(ValueError):
    """A file's checksum or size differs from the expected one.

    Examples:
      A CIFAR-10 test batch in the official binary format (a label byte and 3072 pixel bytes per
      record) but with 2 records instead of 10,000:

      >>> import tempfile
      >>> from pathlib import Path
      >>> import numpy as np
      >>> with tempfile.TemporaryDirectory() as root:
      ...     (Path(root) / "cifar-10-batches-bin").mkdir()
      ...     _ = (Path(root) / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(bytes(2 * 3073))
      ...     try:
      ...         load_cifar10("test", root)
      ...     except ChecksumError as err:
      ...         print(err)
      cifar-10-batches-bin/test_batch.bin: holds 2 records, the official file holds 10000
    """


# ---------------------------------------------------------------------------------------------
# locations and checksums
# ---------------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir`` if given, else ``$FPJAX_DATA``, else ``None`` (``~`` expanded).

    Examples:
      >>> import os
      >>> from pathlib import Path
      >>> from unittest import mock
      >>> resolve_data_dir("data") == Path("data")
      True
      >>> with mock.patch.dict(os.environ, {"FPJAX_DATA": "/srv/data"}):
      ...     resolve_data_dir(None).as_posix()
      '/srv/data'
    """
    if data_dir is None:
        env = os.environ.get("FPJAX_DATA")
        return Path(env).expanduser() if env else None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path (str or os.PathLike); got {type(data_dir).__name__}")
    return Path(data_dir).expanduser()


def _parse_checksum(spec: str, rel: str) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise TypeError(f"checksums[{rel!r}] must be a string 'md5:<hex>' or 'sha256:<hex>'")
    algo, _, hexd = spec.partition(":")
    if not hexd:  # bare hex: the length says which
        algo, hexd = {32: "md5", 64: "sha256"}.get(len(spec), ""), spec
    algo = algo.lower()
    if algo not in ("md5", "sha256") or len(hexd) != {"md5": 32, "sha256": 64}[algo]:
        raise ValueError(f"checksums[{rel!r}] = {spec!r}; expected 'md5:<32 hex>' or 'sha256:<64 hex>'")
    return algo, hexd.lower()


_MAX_FILE_BYTES = 512 << 20  # larger than any file of the supported data sets (CIFAR-100 train: 155 MB)
_MAX_MANIFEST_BYTES = 4 << 20


class UnsafePathError(ValueError):
    """A data file resolves (through a symbolic link) to a place outside the data directory.

    Examples:
      >>> import tempfile
      >>> from pathlib import Path
      >>> with tempfile.TemporaryDirectory() as d:
      ...     elsewhere, data = Path(d) / "elsewhere", Path(d) / "data"
      ...     elsewhere.mkdir(); data.mkdir()
      ...     _ = (elsewhere / "test_batch.bin").write_bytes(bytes(3073))
      ...     (data / "cifar-10-batches-bin").symlink_to(elsewhere)  # a link out of the data directory
      ...     try:
      ...         load_cifar10("test", data, checksums=False)
      ...     except UnsafePathError as err:
      ...         print("outside the data directory" in str(err))
      True
    """


def _inside(root: Path, p: Path) -> Path:
    """``p`` with links resolved, refused unless it lies inside ``root`` (already resolved)."""
    r = p.resolve()
    if r != root and root not in r.parents:
        raise UnsafePathError(
            f"{p} resolves to {r}, outside the data directory {root}; fpjax does not "
            "follow links out of the data directory (point data_dir at the real "
            "location instead)"
        )
    return r


def _read_file(root: Path, p: Path) -> bytes:
    r = _inside(root, p)
    size = r.stat().st_size
    if size > _MAX_FILE_BYTES:
        raise ChecksumError(
            f"{p} has {size} bytes, more than any file of the supported data sets "
            f"({_MAX_FILE_BYTES} bytes); it is not an official file"
        )
    return r.read_bytes()


class _Verifier:
    """Expected checksums of files under the data directory ``root`` (resolved).

    Sources: the built-in table (``KNOWN_CHECKSUMS``), ``SHA256SUMS`` files in the data folders, and
    the caller's ``checksums=`` mapping. A ``SHA256SUMS`` entry for a file with a built-in checksum
    is checked IN ADDITION to the built-in one (it can add a constraint, never replace one); two
    ``SHA256SUMS`` entries for the same file that disagree are an error. The caller's mapping is an
    explicit decision in code and replaces the other sources for the files it names.
    """

    def __init__(self, root: Path, checksums: Mapping[str, str] | bool | None):
        if checksums is not None and not isinstance(checksums, (bool, Mapping)):
            raise TypeError("checksums must be None, False or a mapping {relative_path: 'md5:…'|'sha256:…'}")
        if checksums is True:
            checksums = None
        self.enabled = checksums is not False
        self.builtin: dict[str, tuple[str, str]] = {}
        self.manifest: dict[str, tuple[str, Path]] = {}
        self.user: dict[str, tuple[str, str]] = {}
        self._root = root
        self._manifests_read: set[Path] = set()
        if not self.enabled:
            return
        for rel, spec in KNOWN_CHECKSUMS.items():
            self.builtin[rel] = _parse_checksum(spec, rel)
        for rel, spec in (dict(checksums) if isinstance(checksums, Mapping) else {}).items():
            self.user[str(rel).replace(os.sep, "/")] = _parse_checksum(spec, rel)

    def _read_manifest(self, folder: Path):
        if folder in self._manifests_read:
            return
        self._manifests_read.add(folder)
        man = folder / "SHA256SUMS"
        if not man.is_file():
            return
        real = _inside(self._root, man)
        if real.stat().st_size > _MAX_MANIFEST_BYTES:
            raise ChecksumError(f"{man} is larger than {_MAX_MANIFEST_BYTES} bytes; not a checksum list")
        prefix = "" if folder == self._root else folder.relative_to(self._root).as_posix() + "/"
        try:
            text = real.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ChecksumError(f"{man} is not a text file in sha256sum format") from None
        for line in text.splitlines():
            parts = line.strip().split()
            if len(parts) == 2 and len(parts[0]) == 64:
                name = parts[1].lstrip("*")
                if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
                    raise ChecksumError(f"{man} names {name!r}; entries must be paths inside its folder")
                rel, digest = prefix + name, parts[0].lower()
                if rel in self.manifest and self.manifest[rel][0] != digest:
                    raise ChecksumError(
                        f"conflicting sha256 entries for {rel}: {self.manifest[rel][1]} says "
                        f"{self.manifest[rel][0]}, {man} says {digest}"
                    )
                self.manifest[rel] = (digest, man)

    def check(self, rel: str, data: bytes | Path):
        """Verify ``data`` (bytes, or a file to hash in chunks) against every expected checksum of
        ``rel`` (path relative to the data directory).

        Returns True only when a checksum that fixes the content was verified: the built-in one of
        the official file, or the caller's ``checksums=`` entry (a decision in code). A match with a
        ``SHA256SUMS`` entry in the data folder returns False: that file can only ADD a check, so
        the built-in structural checks (record counts) still apply to the file it vouches for."""
        if not self.enabled:
            return False
        path = self._root / rel
        if path.parent.is_dir() and path.parent != self._root:
            self._read_manifest(path.parent)
        self._read_manifest(self._root)
        if rel in self.user:
            wanted = [(*self.user[rel], "the checksums= argument")]
        else:
            wanted = []
            if rel in self.builtin:
                wanted.append((*self.builtin[rel], "the built-in checksum of the official file"))
            if rel in self.manifest:
                wanted.append(("sha256", self.manifest[rel][0], str(self.manifest[rel][1])))
        if not wanted:
            return False
        hashers = {algo: hashlib.new(algo) for algo, _, _ in wanted}
        if isinstance(data, Path):
            with open(_inside(self._root, data), "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    for h in hashers.values():
                        h.update(chunk)
        else:
            for h in hashers.values():
                h.update(data)
        for algo, want, source in wanted:
            got = hashers[algo].hexdigest()
            if got != want:
                extra = (
                    ""
                    if not (rel in self.builtin and source.endswith("SHA256SUMS"))
                    else " (the file matches its built-in checksum but this SHA256SUMS entry disagrees: "
                    "a checksum list in the data folder cannot replace a built-in one)"
                )
                raise ChecksumError(
                    f"{algo} checksum of {self._root / rel} is {got}, expected {want} "
                    f"(from {source}){extra}: the file is corrupt or not the official one; "
                    "replace it, or pass checksums={...} / checksums=False if you changed "
                    "it on purpose"
                )
        return rel in self.user or rel in self.builtin  # (a SHA256SUMS entry alone: False)


def write_sha256sums(folder: str | os.PathLike) -> Path:
    """Write ``folder/SHA256SUMS`` (``sha256sum`` format) for the regular files directly in
    ``folder``; later loads verify them. Do this once, after checking the archive's md5.

    Args:
      folder: a directory.

    Returns:
      The path of the ``SHA256SUMS`` file written.

    Examples:
      >>> import tempfile
      >>> from pathlib import Path
      >>> with tempfile.TemporaryDirectory() as d:
      ...     _ = (Path(d) / "a.bin").write_bytes(b"abc")
      ...     sums = write_sha256sums(d)
      ...     print(sums.name, sums.read_text(), end="")
      SHA256SUMS ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.bin
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path (str or os.PathLike); got {type(folder).__name__}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} is not a directory")
    from fpjax._src.io import atomic_write_bytes

    lines = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.is_symlink() and p.name != "SHA256SUMS":
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    h.update(chunk)
            lines.append(f"{h.hexdigest()}  {p.name}\n")
    return atomic_write_bytes(folder / "SHA256SUMS", "".join(lines).encode())


def _not_found(dataset: str, root: Path | None, options: list[str], detail: str = "") -> DatasetNotFoundError:
    where = (
        f"under {root}"
        if root is not None
        else "because no data directory was given (pass data_dir=... or set the environment variable FPJAX_DATA)"
    )
    lines = [f"{dataset} not found {where}. Put ONE of the following in that directory:"]
    lines += [f"  ({chr(97 + i)}) {o}" for i, o in enumerate(options)]
    lines.append(
        "The archives are the official downloads; they are read in place (never extracted) "
        "and their md5 is verified. fpjax never downloads anything."
    )
    if detail:
        lines.append(detail)
    return DatasetNotFoundError("\n".join(lines))


def _check_split(split: str, allowed=("train", "test")) -> str:
    return checks.check_choice(split, "split", allowed)


# ---------------------------------------------------------------------------------------------
# CIFAR
# ---------------------------------------------------------------------------------------------

_CIFAR = {
    "cifar10": dict(
        title="CIFAR-10",
        n_label_bytes=1,
        n_classes=(10,),
        bin_dir="cifar-10-batches-bin",
        py_dir="cifar-10-batches-py",
        bin_tar="cifar-10-binary.tar.gz",
        py_tar="cifar-10-python.tar.gz",
        bin_files={"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]},
        py_files={"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
        records={"train": 10000, "test": 10000},
    ),
    "cifar100": dict(
        title="CIFAR-100",
        n_label_bytes=2,
        n_classes=(20, 100),
        bin_dir="cifar-100-binary",
        py_dir="cifar-100-python",
        bin_tar="cifar-100-binary.tar.gz",
        py_tar="cifar-100-python.tar.gz",
        bin_files={"train": ["train.bin"], "test": ["test.bin"]},
        py_files={"train": ["train"], "test": ["test"]},
        records={"train": 50000, "test": 10000},
    ),
}


def _decode_cifar_bin(
    data: bytes, rel: str, n_label_bytes: int, n_classes: tuple[int, ...], expected_records: int | None
):
    rec = n_label_bytes + 3072
    if len(data) == 0 or len(data) % rec:
        raise ChecksumError(
            f"{rel}: {len(data)} bytes is not a whole number of {rec}-byte CIFAR "
            "records; the file is truncated or not a CIFAR binary batch"
        )
    n = len(data) // rec
    if expected_records is not None and n != expected_records:
        raise ChecksumError(f"{rel}: holds {n} records, the official file holds {expected_records}")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(n, rec)
    labels = arr[:, :n_label_bytes].astype(np.int32)
    for j, c in enumerate(n_classes):
        if labels[:, j].max() >= c:
            raise ChecksumError(f"{rel}: label byte {j} has value {labels[:, j].max()} >= {c}")
    images = arr[:, n_label_bytes:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _decode_cifar_py(data: bytes, rel: str, n_classes: tuple[int, ...], label_keys: tuple[str, ...]):
    obj = safe_unpickle(data)
    if not isinstance(obj, dict):
        raise UnsafePickleError(f"{rel}: expected a dict, found {type(obj).__name__}")
    d = {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in d or any(k not in d for k in label_keys):
        raise ValueError(f"{rel}: CIFAR batch must have keys 'data' and {label_keys}; found {sorted(map(str, d))[:10]}")
    x = d["data"]
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072):
        raise ValueError(
            f"{rel}: 'data' must be a uint8 array (n, 3072); got "
            f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
        )
    labels = []
    for key, c in zip(label_keys, n_classes):
        lab = d[key]
        if isinstance(lab, list) and not all(type(v) is int for v in lab):  # (flat: never expand nesting)
            raise ValueError(f"{rel}: {key!r} must be a flat list of integers")
        if not isinstance(lab, (list, np.ndarray)):
            raise ValueError(f"{rel}: {key!r} must be a list or array of integers; got {type(lab).__name__}")
        lab = np.asarray(lab.tolist() if isinstance(lab, np.ndarray) else lab)
        if lab.shape != (x.shape[0],) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"{rel}: {key!r} must be {x.shape[0]} integers; got shape {lab.shape}")
        if lab.min() < 0 or lab.max() >= c:
            raise ValueError(f"{rel}: {key!r} has values outside 0..{c - 1}")
        labels.append(lab.astype(np.int32))
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.stack(labels, axis=1)


def _read_tar_members(path: Path, prefix: str, names: list[str]) -> dict[str, bytes]:
    """The bytes of the regular-file members ``prefix/name`` of a .tar.gz, read in place (nothing is
    extracted to disk, so member paths cannot escape; links and other member types are ignored)."""
    try:
        with tarfile.open(path, "r:gz") as tf:
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
            out = {}
            for name in names:
                m = members.get(f"{prefix}/{name}")
                if m is None:
                    raise DatasetNotFoundError(f"{path} has no member {prefix}/{name}; it is not the official archive")
                if m.size > _MAX_FILE_BYTES:
                    raise ChecksumError(f"{path}: member {m.name} claims {m.size} bytes; not an official archive")
                out[name] = tf.extractfile(m).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        if isinstance(err, DatasetNotFoundError):
            raise
        raise ChecksumError(
            f"{path} is not a readable .tar.gz archive ({type(err).__name__}: {err}); the file is corrupt or truncated"
        ) from None
    return out


def _load_cifar(which: str, split: str, data_dir, checksums, label_index: int):
    spec = _CIFAR[which]
    _check_split(split)
    root = resolve_data_dir(data_dir)
    bin_list = ", ".join(spec["bin_files"]["train"] + spec["bin_files"]["test"])
    py_list = ", ".join(spec["py_files"]["train"] + spec["py_files"]["test"])
    options = [
        f"the folder {spec['bin_dir']}/ holding {bin_list} (binary version)",
        f"the folder {spec['py_dir']}/ holding {py_list} (python version)",
        f"the archive {spec['bin_tar']} or {spec['py_tar']} itself",
    ]
    if root is None or not root.is_dir():
        raise _not_found(spec["title"], root, options)
    root = root.resolve()
    ver = _Verifier(root, checksums)
    n_classes = spec["n_classes"]
    label_keys = ("labels",) if which == "cifar10" else ("coarse_labels", "fine_labels")

    def finish(parts):
        x = np.concatenate([p[0] for p in parts]).astype(np.float32) / np.float32(255.0)
        y = np.concatenate([p[1] for p in parts])[:, label_index].astype(np.int32)
        return Dataset(x, y)

    # Official record count of each file of this split. It is checked unless a built-in checksum or
    # the caller's checksums= entry fixed the content (a SHA256SUMS file in the data folder only
    # adds a check and never lifts this one); checksums=False, a decision in code, skips it too.
    per_file = spec["records"][split]
    partial = []
    for folder, files, kind in (
        (spec["bin_dir"], spec["bin_files"][split], "bin"),
        (spec["py_dir"], spec["py_files"][split], "py"),
    ):
        d = root / folder
        if not d.is_dir():
            continue
        missing = [f for f in files if not (d / f).is_file()]
        if missing:
            partial.append(f"{d} exists but lacks {', '.join(missing)}")
            continue
        parts = []
        for f in files:
            rel = f"{folder}/{f}"
            data = _read_file(root, d / f)
            verified = ver.check(rel, data)
            if kind == "bin":
                parts.append(
                    _decode_cifar_bin(
                        data, rel, spec["n_label_bytes"], n_classes, per_file if ver.enabled and not verified else None
                    )
                )
            else:
                parts.append(_decode_cifar_py(data, rel, n_classes, label_keys))
        return finish(parts)
    for tar_name, folder, files, kind in (
        (spec["bin_tar"], spec["bin_dir"], spec["bin_files"][split], "bin"),
        (spec["py_tar"], spec["py_dir"], spec["py_files"][split], "py"),
    ):
        p = root / tar_name
        if not p.is_file():
            continue
        _inside(root, p)
        tar_verified = ver.check(tar_name, p)
        contents = _read_tar_members(p, folder, files)
        parts = []
        for f in files:
            rel = f"{folder}/{f}"
            data = contents[f]
            verified = ver.check(rel, data) or tar_verified
            if kind == "bin":
                parts.append(
                    _decode_cifar_bin(
                        data, rel, spec["n_label_bytes"], n_classes, per_file if ver.enabled and not verified else None
                    )
                )
            else:
                parts.append(_decode_cifar_py(data, rel, n_classes, label_keys))
        return finish(parts)
    raise _not_found(spec["title"], root, options, "; ".join(partial))


def load_cifar10(split: str = "train", data_dir=None, *, checksums=None):
    """CIFAR-10 ``(x (n, 32, 32, 3) float32 in [0, 1], y (n,) int32)``; train n = 50000, test 10000.

    Args:
      split: ``"train"`` or ``"test"``.
      data_dir: the folder holding one of the layouts of the module docstring (else ``$FPJAX_DATA``).
      checksums: see :func:`load_dataset`.

    Returns:
      :class:`Dataset` ``(x, y)``.

    Examples:
      A stand-in test batch of 2 records in the official binary format (label byte, then the
      1024 red, green and blue bytes); ``checksums=False`` skips the official record count:

      >>> import tempfile
      >>> from pathlib import Path
      >>> import numpy as np
      >>> records = np.zeros((2, 1 + 3072), np.uint8)
      >>> records[:, 0] = [3, 7]; records[1, 1:] = 255  # labels; the second image white
      >>> with tempfile.TemporaryDirectory() as root:
      ...     (Path(root) / "cifar-10-batches-bin").mkdir()
      ...     _ = (Path(root) / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(records.tobytes())
      ...     x, y = load_cifar10("test", root, checksums=False)
      >>> x.shape, x.dtype, y.tolist(), float(x[0].max()), float(x[1].min())
      ((2, 32, 32, 3), dtype('float32'), [3, 7], 0.0, 1.0)
    """
    return _load_cifar("cifar10", split, data_dir, checksums, 0)


def load_cifar100(split: str = "train", data_dir=None, *, checksums=None, label_mode: str = "fine"):
    """CIFAR-100 ``(x (n, 32, 32, 3) float32 in [0, 1], y (n,) int32)``; ``label_mode`` ``"fine"``
    (100 classes, default) or ``"coarse"`` (20 superclasses).

    Args:
      split, data_dir, checksums: as :func:`load_cifar10`.
      label_mode: ``"fine"`` or ``"coarse"``.

    Returns:
      :class:`Dataset` ``(x, y)``; train n = 50000, test 10000.

    Examples:
      A stand-in test file of 2 records in the official binary format (coarse label byte, fine
      label byte, 3072 pixel bytes); ``checksums=False`` skips the official record count:

      >>> import tempfile
      >>> from pathlib import Path
      >>> import numpy as np
      >>> records = np.zeros((2, 2 + 3072), np.uint8)
      >>> records[:, 0], records[:, 1] = [4, 19], [30, 99]
      >>> with tempfile.TemporaryDirectory() as root:
      ...     (Path(root) / "cifar-100-binary").mkdir()
      ...     _ = (Path(root) / "cifar-100-binary" / "test.bin").write_bytes(records.tobytes())
      ...     fine = load_cifar100("test", root, checksums=False)
      ...     coarse = load_cifar100("test", root, checksums=False, label_mode="coarse")
      >>> fine.x.shape, fine.y.tolist(), coarse.y.tolist()
      ((2, 32, 32, 3), [30, 99], [4, 19])
    """
    checks.check_choice(label_mode, "label_mode", ("fine", "coarse"))
    return _load_cifar("cifar100", split, data_dir, checksums, 1 if label_mode == "fine" else 0)


# ---------------------------------------------------------------------------------------------
# Tiny ImageNet
# ---------------------------------------------------------------------------------------------

_TINY_SIZE = (64, 64)
MAX_IMAGE_PIXELS = 64 * 64  # Tiny-ImageNet images; any larger header is refused before decoding


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{name} is not UTF-8 text ({err.reason} at byte {err.start}); the file is corrupt or not the official one"
        ) from None


def _decode_jpeg(data: bytes, name: str) -> np.ndarray:
    """Decode one Tiny-ImageNet JPEG ``name`` (shown in errors). The header is read first (PIL opens
    lazily) and the size checked against 64×64 before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as im:
            w, h = im.size
            if (w, h) != _TINY_SIZE or w * h > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"{name}: Tiny-ImageNet images are 64×64; this one declares {w}×{h} (refused before decoding)"
                )
            im = im.convert("RGB")  # decodes; a few Tiny-ImageNet images are greyscale
            arr = np.asarray(im, dtype=np.uint8)
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not a JPEG image (corrupt, truncated or another format)") from None
    except (OSError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise ValueError(f"{name}: the JPEG data is corrupt or truncated ({type(err).__name__}: {err})") from None
    if arr.shape != (64, 64, 3):
        raise ValueError(f"{name}: Tiny-ImageNet images are 64×64×3; got {arr.shape}")
    return arr


def load_tiny_imagenet(split: str = "train", data_dir=None, *, checksums=None, max_per_class: int | None = None):
    r"""Tiny ImageNet-200 ``(x (n, 64, 64, 3) float32 in [0, 1], y (n,) int32)``.

    Labels are the line numbers of the class ids in ``wnids.txt``. ``"train"``: 500 images per
    class (100,000); ``"test"``/``"val"``: the labelled 10,000-image validation set.
    ``max_per_class`` keeps the first images of each class (sorted file names) for quick runs.

    Args:
      split: ``"train"``, ``"test"`` or ``"val"`` (the same labelled validation set).
      data_dir, checksums: as :func:`load_cifar10`.
      max_per_class: at most this many images per class.

    Returns:
      :class:`Dataset` ``(x, y)``.

    Examples:
      A stand-in folder in the official layout: 200 class ids and a validation set of two
      64×64 JPEGs (of the first and the last class):

      >>> import tempfile
      >>> from pathlib import Path
      >>> from PIL import Image
      >>> with tempfile.TemporaryDirectory() as root:
      ...     top = Path(root) / "tiny-imagenet-200"
      ...     (top / "val" / "images").mkdir(parents=True)
      ...     _ = (top / "wnids.txt").write_text("\n".join(f"n{i:08d}" for i in range(200)))
      ...     for name in ("val_0.JPEG", "val_1.JPEG"):
      ...         Image.new("RGB", (64, 64), (255, 0, 0)).save(top / "val" / "images" / name)
      ...     _ = (top / "val" / "val_annotations.txt").write_text(
      ...         "val_0.JPEG\tn00000000\t0\t0\t63\t63\nval_1.JPEG\tn00000199\t0\t0\t63\t63\n")
      ...     x, y = load_tiny_imagenet("val", root)
      >>> x.shape, y.tolist(), round(float(x[..., 0].min()), 2), round(float(x[..., 2].max()), 2)  # red
      ((2, 64, 64, 3), [0, 199], 1.0, 0.0)
    """
    split = _check_split(split, ("train", "test", "val"))
    if max_per_class is not None:
        max_per_class = checks.check_positive_int(max_per_class, "max_per_class")
    root = resolve_data_dir(data_dir)
    options = [
        "the folder tiny-imagenet-200/ holding wnids.txt, train/<wnid>/images/*.JPEG, "
        "val/images/*.JPEG and val/val_annotations.txt",
        "the archive tiny-imagenet-200.zip itself",
    ]
    if root is None or not root.is_dir():
        raise _not_found("Tiny ImageNet", root, options)
    root = root.resolve()
    ver = _Verifier(root, checksums)
    folder = root / "tiny-imagenet-200"
    zf = None
    if folder.is_dir() and (folder / "wnids.txt").is_file():

        def read(rel):
            if not (folder / rel).is_file():
                raise _not_found("Tiny ImageNet", root, options, f"{folder / rel} is missing")
            data = _read_file(root, folder / rel)
            ver.check(f"tiny-imagenet-200/{rel}", data)
            return data, str(folder / rel)

        def listdir(rel):
            p = folder / rel
            if not p.is_dir():
                return []
            _inside(root, p)
            return sorted(q.name for q in p.iterdir())
    elif (root / "tiny-imagenet-200.zip").is_file():
        zpath = root / "tiny-imagenet-200.zip"
        _inside(root, zpath)
        ver.check("tiny-imagenet-200.zip", zpath)
        try:
            zf = zipfile.ZipFile(zpath)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ChecksumError(
                f"{zpath} is not a readable zip archive ({type(err).__name__}: {err}); the file is corrupt or truncated"
            ) from None
        infos = {i.filename: i for i in zf.infolist()}
        names = set(infos)

        def read(rel):
            name = f"tiny-imagenet-200/{rel}"
            if name not in names:
                raise _not_found("Tiny ImageNet", root, options, f"{zpath} has no member {name}")
            if infos[name].file_size > _MAX_FILE_BYTES:
                raise ChecksumError(
                    f"{zpath}: member {name} claims {infos[name].file_size} bytes; not the official archive"
                )
            try:
                return zf.read(name), f"{zpath}:{name}"
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
                raise ChecksumError(f"{zpath}: member {name} is corrupt ({type(err).__name__}: {err})") from None

        def listdir(rel):
            pre = f"tiny-imagenet-200/{rel}/"
            return sorted({n[len(pre) :].split("/")[0] for n in names if n.startswith(pre) and n != pre})
    else:
        raise _not_found("Tiny ImageNet", root, options)
    try:
        return _tiny_imagenet_read(
            split, read, listdir, max_per_class, lambda detail: _not_found("Tiny ImageNet", root, options, detail)
        )
    finally:
        if zf is not None:
            zf.close()


def _tiny_imagenet_read(split, read, listdir, max_per_class, not_found):
    wnids = [w.strip() for w in _text(*read("wnids.txt")).splitlines() if w.strip()]
    if len(wnids) != 200 or len(set(wnids)) != 200:
        raise ValueError(f"wnids.txt must list 200 distinct class ids; found {len(set(wnids))}")
    bad = [w for w in wnids if not w.replace("_", "").isalnum()]
    if bad:  # they become path components: refuse anything but plain names
        raise ValueError(f"wnids.txt holds ids that are not plain names: {bad[:3]}")
    index = {w: i for i, w in enumerate(wnids)}
    items: list[tuple[str, int]] = []
    if split == "train":
        for w in wnids:
            files = [f for f in listdir(f"train/{w}/images") if f.endswith(".JPEG")]
            if not files:
                raise not_found(f"train/{w}/images has no JPEGs")
            items += [(f"train/{w}/images/{f}", index[w]) for f in files[:max_per_class]]
    else:
        counts: dict[int, int] = {}
        for line in _text(*read("val/val_annotations.txt")).splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            if parts[1] not in index:
                raise ValueError(f"val_annotations.txt names unknown class {parts[1]!r}")
            if "/" in parts[0] or "\\" in parts[0] or parts[0] in (".", ".."):
                raise ValueError(f"val_annotations.txt names {parts[0]!r}, not a plain file name")
            c = index[parts[1]]
            if max_per_class is None or counts.get(c, 0) < max_per_class:
                counts[c] = counts.get(c, 0) + 1
                items.append((f"val/images/{parts[0]}", c))
        if not items:
            raise not_found("val/val_annotations.txt lists no images")
    x = np.empty((len(items), 64, 64, 3), dtype=np.float32)
    # Read sequentially (one file handle), decode in threads: PIL releases the GIL while decoding.
    from concurrent.futures import ThreadPoolExecutor

    chunk = 2048
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            blobs = [read(rel) for rel, _ in part]
            for i, arr in enumerate(pool.map(lambda br: _decode_jpeg(*br), blobs)):
                x[start + i] = arr / np.float32(255.0)
    return Dataset(x, np.array([c for _, c in items], dtype=np.int32))


# ---------------------------------------------------------------------------------------------
# shipped data: scikit-learn digits and diabetes, a photograph
# ---------------------------------------------------------------------------------------------


def _sk_split(n: int, split: str) -> np.ndarray:
    # Deterministic, seed-free 80/20 split: every fifth example is a test example. The digits are
    # stored writer by writer, so this keeps all ten classes (and writers) in both parts.
    idx = np.arange(n)
    if split == "all":
        return idx
    return idx[idx % 5 == 4] if split == "test" else idx[idx % 5 != 4]


def load_digits(split: str = "train", *, size: int | None = None, channels: int = 1):
    """scikit-learn's handwritten digits (1797 real 8×8 images shipped with the package).

    Returns ``(x (n, s, s, channels) float32 in [0, 1], y (n,) int32)``: pixel values /16; with
    ``size`` the images are upscaled by :func:`upscale_images` (e.g. ``size=32, channels=3`` gives
    CIFAR-shaped inputs). Splits (seed-free): ``"test"`` = every fifth image (359), ``"train"`` =
    the rest (1438), ``"all"``.

    Examples:
      >>> x, y = load_digits()
      >>> x.shape, x.dtype, float(x.max()), y[:10].tolist()
      ((1438, 8, 8, 1), dtype('float32'), 1.0, [0, 1, 2, 3, 5, 6, 7, 8, 0, 1])
      >>> load_digits("test", size=32, channels=3).x.shape  # CIFAR-shaped
      (359, 32, 32, 3)
    """
    split = _check_split(split, ("train", "test", "all"))
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    idx = _sk_split(len(d.target), split)
    x = (d.images[idx] / 16.0).astype(np.float32)[..., None]
    if size is not None or channels != 1:
        # size=0 is not "no upscaling" (that is None): upscale_images refuses it, naming size
        x = upscale_images(x, size=8 if size is None else size, channels=channels)
    return Dataset(x, d.target[idx].astype(np.int32))


def load_diabetes(split: str = "train"):
    """scikit-learn's diabetes regression set (442 × 10, shipped with the package).

    Returns ``(x (n, 10) float32, y (n,) float32)``: features standardized with the mean and std
    of the training split (the raw, unscaled features), ``y`` the raw target (disease progression,
    25..346). Splits as in :func:`load_digits`: test = every fifth row (88), train = 354, all.

    Examples:
      >>> import numpy as np
      >>> x, y = load_diabetes()
      >>> x.shape, y.dtype, float(y.min()), float(y.max())
      ((354, 10), dtype('float32'), 25.0, 346.0)
      >>> bool(np.allclose(x.mean(0), 0, atol=1e-5)), bool(np.allclose(x.std(0), 1, atol=1e-5))
      (True, True)
    """
    split = _check_split(split, ("train", "test", "all"))
    from sklearn.datasets import load_diabetes as _ld

    d = _ld(scaled=False)
    tr = _sk_split(len(d.target), "train")
    mu, sd = d.data[tr].mean(0), d.data[tr].std(0)
    idx = _sk_split(len(d.target), split)
    return Dataset(((d.data[idx] - mu) / sd).astype(np.float32), d.target[idx].astype(np.float32))


def load_sample_photo(name: str = "china", *, grayscale: bool = True) -> np.ndarray:
    """A real photograph shipped with scikit-learn (``"china"`` or ``"flower"``, 427 × 640),
    float32 in [0, 1]: ``(427, 640)`` grey (ITU-R 601 luma) or ``(427, 640, 3)`` RGB.

    Examples:
      >>> im = load_sample_photo()
      >>> im.shape, im.dtype, 0.0 <= float(im.min()) and float(im.max()) <= 1.0
      ((427, 640), dtype('float32'), True)
      >>> load_sample_photo("flower", grayscale=False).shape
      (427, 640, 3)
    """
    checks.check_choice(name, "name", ("china", "flower"))
    from sklearn.datasets import load_sample_image

    im = load_sample_image(f"{name}.jpg").astype(np.float32) / np.float32(255.0)
    if grayscale:
        im = im @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return im


def upscale_images(x: ArrayLike, *, size: int = 32, channels: int = 3) -> np.ndarray:
    """Bilinear upscaling ``(n, h, w, c) -> (n, size, size, channels)`` (channels repeated from a
    single grey channel, or kept). Bilinear interpolation is a convex combination of pixels, so
    values in [0, 1] stay in [0, 1].

    Examples:
      Pixel centres at half-integer positions: a row ``(0, 1)`` becomes ``(0, 1/4, 3/4, 1)``:

      >>> import numpy as np
      >>> upscale_images(np.array([0.0, 1.0]).reshape(1, 1, 2, 1), size=4, channels=1)[0, 0, :, 0].tolist()
      [0.0, 0.25, 0.75, 1.0]
      >>> upscale_images(np.zeros((2, 8, 8, 1))).shape  # grey 8×8 to RGB 32×32
      (2, 32, 32, 3)
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (n, h, w, c); got {x.shape}")
    size = checks.check_positive_int(size, "size")
    channels = checks.check_positive_int(channels, "channels")
    if x.shape[-1] not in (1, channels):
        raise ValueError(f"cannot make {channels} channels from {x.shape[-1]}")
    # The resize holds its float32 output (and XLA a working copy) at once: refuse before allocating.
    checks.check_memory(
        3.0 * 4 * x.shape[0] * size * size * max(x.shape[-1], channels), "size", f"{x.shape[0]} images of {size}²"
    )
    import jax
    import jax.numpy as jnp

    out = np.asarray(
        jax.image.resize(jnp.asarray(x), (x.shape[0], size, size, x.shape[-1]), method="linear", antialias=False)
    )
    out = np.clip(out, 0.0, 1.0)
    if out.shape[-1] != channels:
        out = np.repeat(out, channels, axis=-1)
    return out.astype(np.float32)


def standardize(x_train: ArrayLike, *others: ArrayLike, eps: float = 1e-8):
    """Per-channel (last axis) standardization with the statistics of ``x_train``:
    ``(x − μ_train) / (σ_train + eps)``. Returns ``(x_train_std, *others_std)``.

    Examples:
      >>> import numpy as np
      >>> x_train, x_test = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[1.5]])
      >>> s_train, s_test = standardize(x_train, x_test)  # μ = 1.5, σ = √1.25
      >>> [round(v, 4) for v in s_train[:, 0].tolist()], s_test.tolist()
      ([-1.3416, -0.4472, 0.4472, 1.3416], [[0.0]])
    """
    x_train = checks.real_float_array(x_train, "x_train", dtype=np.float32)
    if x_train.ndim < 2 or x_train.shape[0] == 0:
        raise ValueError(f"x_train must have shape (n, ..., c) with n >= 1; got {x_train.shape}")
    eps = checks.check_positive(eps, "eps", allow_zero=True)
    rest = [checks.real_float_array(o, f"others[{i}]", dtype=np.float32) for i, o in enumerate(others)]
    for i, o in enumerate(rest):  # per-channel statistics: every array needs x_train's channel axis
        if o.ndim < 1 or o.shape[-1] != x_train.shape[-1]:
            raise ValueError(
                f"others[{i}] must have shape (..., {x_train.shape[-1]}) (the channels of x_train); got {o.shape}"
            )
    axes = tuple(range(x_train.ndim - 1))
    mu, sd = x_train.mean(axes), x_train.std(axes)
    f = lambda a: ((a - mu) / (sd + eps)).astype(np.float32)
    return (f(x_train),) + tuple(f(o) for o in rest)


# ---------------------------------------------------------------------------------------------
# the dispatcher
# ---------------------------------------------------------------------------------------------


def load_dataset(name: str, split: str = "train", data_dir=None, *, checksums=None, **options):
    """Load a data set by name: ``(x, y)`` numpy arrays (see the module docstring for shapes).

    Args:
      name: one of ``DATASET_NAMES``.
      split: ``"train"`` or ``"test"`` (``"all"`` for digits/digits32/diabetes, ``"val"`` for
        Tiny ImageNet).
      data_dir: directory with the downloaded files (else ``$FPJAX_DATA``); unused by the
        scikit-learn sets.
      checksums: ``None`` (built-in + SHA256SUMS), a mapping ``{relative path: "md5:…"|"sha256:…"}``
        added on top, or ``False`` (no hash verification).
      **options: ``label_mode`` (cifar100), ``max_per_class`` (tiny_imagenet).

    Returns:
      :class:`Dataset` ``(x, y)``.

    Raises ValueError for unknown names/splits, :class:`DatasetNotFoundError` when files are
    missing, :class:`ChecksumError` on corrupt files, :class:`UnsafePickleError` on pickles that
    contain anything but data.

    Examples:
      >>> x, y = load_dataset("digits32", "test")
      >>> x.shape, y.shape
      ((359, 32, 32, 3), (359,))
      >>> load_dataset("diabetes", "all").x.shape
      (442, 10)
      >>> load_dataset("mnist")
      Traceback (most recent call last):
      ...
      ValueError: unknown dataset name 'mnist'; expected one of cifar10, cifar100, tiny_imagenet, digits, digits32, diabetes
    """
    if not isinstance(name, str) or name.lower() not in DATASET_NAMES:
        raise ValueError(f"unknown dataset name {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    name = name.lower()
    if name == "cifar10":
        return load_cifar10(split, data_dir, checksums=checksums, **options)
    if name == "cifar100":
        return load_cifar100(split, data_dir, checksums=checksums, **options)
    if name == "tiny_imagenet":
        return load_tiny_imagenet(split, data_dir, checksums=checksums, **options)
    if options:
        raise TypeError(f"{name} takes no options; got {sorted(options)}")
    if name == "digits":
        return load_digits(split)
    if name == "digits32":
        return load_digits(split, size=32, channels=3)
    return load_diabetes(split)
