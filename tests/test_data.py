"""Tests of fpjax.data: CIFAR (binary, python, archives), Tiny ImageNet, shipped sets, safety."""

import hashlib
import io
import os
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from fpjax import data
from fpjax.data import (
    ChecksumError,
    DatasetNotFoundError,
    UnsafePickleError,
    load_dataset,
    safe_unpickle,
)


def sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _images(rng, n):
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _expected_nhwc(rows):
    # CIFAR row layout: 1024 red, 1024 green, 1024 blue bytes, each a row-major 32×32 image
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0


def _write(path, b):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b)
    return b


# ----------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 binary format
# ----------------------------------------------------------------------------------------------


def _cifar10_bin(tmp_path, rng, n=3):
    """Write cifar-10-batches-bin/ with n records per file; return (checksums, truth)."""
    sums, truth = {}, {}
    for split, files in (("train", [f"data_batch_{i}.bin" for i in range(1, 6)]), ("test", ["test_batch.bin"])):
        xs, ys = [], []
        for f in files:
            x = _images(rng, n)
            y = rng.integers(0, 10, size=n, dtype=np.uint8)
            raw = np.concatenate([y[:, None], x], axis=1).tobytes()  # <1 label byte><3072 pixels>
            b = _write(tmp_path / "cifar-10-batches-bin" / f, raw)
            sums[f"cifar-10-batches-bin/{f}"] = sha256(b)
            xs.append(x)
            ys.append(y)
        truth[split] = (np.concatenate(xs), np.concatenate(ys))
    return sums, truth


def test_cifar10_binary_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    sums, truth = _cifar10_bin(tmp_path, rng)
    for split in ("train", "test"):
        x, y = load_dataset("cifar10", split, tmp_path, checksums=sums)
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.shape == (len(truth[split][1]), 32, 32, 3)
        np.testing.assert_array_equal(x, _expected_nhwc(truth[split][0]))
        np.testing.assert_array_equal(y, truth[split][1])
    assert x.min() >= 0 and x.max() <= 1


def test_cifar10_binary_pixel_layout(tmp_path):
    # One record whose red byte at (row 2, col 5) is 255: it must land at x[0, 2, 5, 0].
    rec = np.zeros(3073, np.uint8)
    rec[0] = 7
    rec[1 + 0 * 1024 + 2 * 32 + 5] = 255
    rec[1 + 2 * 1024 + 31 * 32 + 0] = 51  # blue at (31, 0)
    sums = {}
    for f in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        sums[f"cifar-10-batches-bin/{f}"] = sha256(_write(tmp_path / "cifar-10-batches-bin" / f, rec.tobytes()))
    x, y = data.load_cifar10("test", tmp_path, checksums=sums)
    assert y.tolist() == [7]
    assert x[0, 2, 5, 0] == 1.0 and x[0, 31, 0, 2] == np.float32(51 / 255)
    assert np.count_nonzero(x) == 2


def test_unverified_binary_must_have_official_size(tmp_path):
    # Without a known checksum for the .bin members, the record count is checked instead
    _cifar10_bin(tmp_path, np.random.default_rng(1))
    with pytest.raises(ChecksumError, match="10000"):
        load_dataset("cifar10", "train", tmp_path)
    # a truncated file (not a whole number of records) is refused even with checksums=False
    p = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(ChecksumError, match="truncated"):
        load_dataset("cifar10", "test", tmp_path, checksums=False)


def test_checksum_mismatch_and_sha256sums_manifest(tmp_path):
    sums, _ = _cifar10_bin(tmp_path, np.random.default_rng(2))
    bad = dict(sums)
    bad["cifar-10-batches-bin/test_batch.bin"] = "sha256:" + "0" * 64
    with pytest.raises(ChecksumError, match="test_batch.bin"):
        load_dataset("cifar10", "test", tmp_path, checksums=bad)
    with pytest.raises(ValueError, match="md5"):
        load_dataset("cifar10", "test", tmp_path, checksums={"cifar-10-batches-bin/test_batch.bin": "xyz"})
    # SHA256SUMS written once catches tampering, but never lifts the record-count check
    data.write_sha256sums(tmp_path / "cifar-10-batches-bin")
    with pytest.raises(ChecksumError, match="holds 3 records, the official file holds 10000"):
        load_dataset("cifar10", "test", tmp_path)
    p = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    raw = bytearray(p.read_bytes())
    raw[100] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="sha256"):
        load_dataset("cifar10", "test", tmp_path)


def test_cifar100_binary_fine_and_coarse(tmp_path):
    rng = np.random.default_rng(3)
    sums, truth = {}, {}
    for split, n in (("train", 4), ("test", 2)):
        x = _images(rng, n)
        coarse = rng.integers(0, 20, n, dtype=np.uint8)
        fine = rng.integers(0, 100, n, dtype=np.uint8)
        raw = np.concatenate([coarse[:, None], fine[:, None], x], axis=1).tobytes()
        sums[f"cifar-100-binary/{split}.bin"] = sha256(_write(tmp_path / "cifar-100-binary" / f"{split}.bin", raw))
        truth[split] = (x, coarse, fine)
    x, y = load_dataset("cifar100", "train", tmp_path, checksums=sums)
    np.testing.assert_array_equal(x, _expected_nhwc(truth["train"][0]))
    np.testing.assert_array_equal(y, truth["train"][2])
    _, yc = load_dataset("cifar100", "test", tmp_path, checksums=sums, label_mode="coarse")
    np.testing.assert_array_equal(yc, truth["test"][1])


# ----------------------------------------------------------------------------------------------
# CIFAR python format (pickles), read without pickle.load
# ----------------------------------------------------------------------------------------------


def _py_batch(rng, n, labels_key=b"labels", n_classes=10, extra=None):
    d = {
        b"batch_label": b"training batch 1 of 5",
        labels_key: rng.integers(0, n_classes, n).tolist(),
        b"data": _images(rng, n),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    d.update(extra or {})
    return d


def test_cifar10_python_roundtrip(tmp_path):
    rng = np.random.default_rng(4)
    sums, truth = {}, {}
    for split, files in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
        xs, ys = [], []
        for f in files:
            d = _py_batch(rng, 3)
            # protocol 2, as the original (Python 2 cPickle) batches
            sums[f"cifar-10-batches-py/{f}"] = sha256(
                _write(tmp_path / "cifar-10-batches-py" / f, pickle.dumps(d, protocol=2))
            )
            xs.append(d[b"data"])
            ys.append(d[b"labels"])
        truth[split] = (np.concatenate(xs), np.concatenate(ys))
    for split in ("train", "test"):
        x, y = load_dataset("cifar10", split, tmp_path, checksums=sums)
        np.testing.assert_array_equal(x, _expected_nhwc(truth[split][0]))
        np.testing.assert_array_equal(y, truth[split][1])
    # without the caller's checksums, the built-in md5 of the official files applies
    with pytest.raises(ChecksumError, match="md5"):
        load_dataset("cifar10", "test", tmp_path)


def test_cifar100_python_roundtrip(tmp_path):
    rng = np.random.default_rng(5)
    sums, truth = {}, {}
    for split in ("train", "test"):
        d = _py_batch(rng, 4, b"fine_labels", 100, {b"coarse_labels": rng.integers(0, 20, 4).tolist()})
        sums[f"cifar-100-python/{split}"] = sha256(
            _write(tmp_path / "cifar-100-python" / split, pickle.dumps(d, protocol=2))
        )
        truth[split] = d
    x, y = load_dataset("cifar100", "test", tmp_path, checksums=sums)
    np.testing.assert_array_equal(y, truth["test"][b"fine_labels"])
    np.testing.assert_array_equal(x, _expected_nhwc(truth["test"][b"data"]))
    _, yc = load_dataset("cifar100", "train", tmp_path, checksums=sums, label_mode="coarse")
    np.testing.assert_array_equal(yc, truth["train"][b"coarse_labels"])


def _py2_style_pickle(labels, rows):
    """Hand-assembled protocol-2 pickle as Python 2's cPickle writes a CIFAR batch: str values as
    SHORT_BINSTRING/BINSTRING, numpy.core.multiarray._reconstruct, BININT labels."""

    def s(b):
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)

    out = [
        b"\x80\x02}q\x00(",
        s(b"batch_label"),
        s(b"testing batch 1 of 1"),
        s(b"labels"),
        b"]q\x01(",
        b"".join(b"K" + bytes([v]) for v in labels),
        b"e",
        s(b"data"),
        b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85",
        s(b"b"),
        b"\x87Rq\x04(K\x01",
        b"K" + bytes([rows.shape[0]]),
        b"M\x00\x0c\x86",
        b"cnumpy\ndtype\nq\x05",
        s(b"u1"),
        b"K\x00K\x01\x87Rq\x06(K\x03",
        s(b"|"),
        b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89",
        s(rows.tobytes()),
        b"tb",
        s(b"filenames"),
        b"]q\x07(",
        b"".join(s(f"f{i}.png".encode()) for i in range(len(labels))),
        b"eu.",
    ]
    return b"".join(out)


def test_python2_style_batch():
    rng = np.random.default_rng(6)
    rows = _images(rng, 3)
    raw = _py2_style_pickle([3, 1, 4], rows)
    d = safe_unpickle(raw)
    assert d[b"labels"] == [3, 1, 4] and d[b"batch_label"] == b"testing batch 1 of 1"
    np.testing.assert_array_equal(d[b"data"], rows)
    assert d[b"filenames"] == [b"f0.png", b"f1.png", b"f2.png"]
    # and the standard library agrees on what this stream means
    ref = pickle.loads(raw, encoding="bytes")
    np.testing.assert_array_equal(ref[b"data"], rows)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_safe_unpickle_matches_pickle_on_plain_data(protocol):
    rng = np.random.default_rng(protocol)
    obj = {
        b"k": [1, -2, 300, 2**40, 1.5, None, True, b"", b"\x00\xff", "é"],
        "arr_i8": rng.integers(-5, 5, (2, 3)).astype("<i8"),
        "arr_f4": rng.normal(size=4).astype(np.float32),
        "arr_be": np.arange(3, dtype=">i4"),
        "t": (1, (2, 3)),
        "empty": np.zeros((0, 3), np.uint8),
    }
    got = safe_unpickle(pickle.dumps(obj, protocol=protocol))
    assert got[b"k"] == obj[b"k"] and got["t"] == obj["t"]
    for k in ("arr_i8", "arr_f4", "arr_be", "empty"):
        np.testing.assert_array_equal(got[k], obj[k])
        assert got[k].dtype == obj[k].dtype.newbyteorder("=")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_never_executes(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=protocol)
    _write(tmp_path / "cifar-10-batches-py" / "test_batch", payload)
    with pytest.raises(UnsafePickleError, match="system"):
        load_dataset("cifar10", "test", tmp_path, checksums=False)
    assert not marker.exists()


def test_other_unsafe_constructs_refused(tmp_path):
    marker = tmp_path / "pwned2"
    cases = [
        # the classic protocol-0 shell
        f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),
        # builtins.eval via STACK_GLOBAL (protocol 4)
        b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x0bprint('x')\x85R.",
        # an allowed name used with disallowed arguments: numpy dtype of Python objects
        b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R.",
        # _reconstruct whose first argument is not ndarray
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85C\x01b\x87R.",
        # INST / OBJ opcodes
        b"(ios\nsystem\nS'true'\n.",
        # array whose declared shape does not match its data
        pickle.dumps(np.zeros(4, np.uint8), protocol=2).replace(b"K\x04\x85", b"K\x09\x85"),
        # truncated stream
        pickle.dumps({b"a": [1, 2]}, protocol=2)[:-3],
    ]
    for raw in cases:
        with pytest.raises(UnsafePickleError):
            safe_unpickle(raw)
    assert not marker.exists()
    with pytest.raises(TypeError):
        safe_unpickle("not bytes")


def test_archives_read_in_place(tmp_path):
    rng = np.random.default_rng(7)
    src = tmp_path / "src"
    _, truth = _cifar10_bin(src, rng)
    root = tmp_path / "root"
    root.mkdir()
    tar = root / "cifar-10-binary.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(src / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    sums = {"cifar-10-binary.tar.gz": sha256(tar.read_bytes())}
    x, y = load_dataset("cifar10", "test", root, checksums=sums)
    np.testing.assert_array_equal(y, truth["test"][1])
    np.testing.assert_array_equal(x, _expected_nhwc(truth["test"][0]))
    assert not (root / "cifar-10-batches-bin").exists()  # nothing was extracted
    # the built-in md5 of the official archive rejects this home-made one
    with pytest.raises(ChecksumError, match="cifar-10-binary.tar.gz"):
        load_dataset("cifar10", "test", root)


# ----------------------------------------------------------------------------------------------
# missing files: one message saying where to put what
# ----------------------------------------------------------------------------------------------


def test_missing_files_message(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("cifar10", "train", tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg
    for needle in (
        "cifar-10-batches-bin/",
        "data_batch_1.bin",
        "test_batch.bin",
        "cifar-10-batches-py/",
        "cifar-10-binary.tar.gz",
        "cifar-10-python.tar.gz",
    ):
        assert needle in msg
    # no data_dir and no FPJAX_DATA: the message says how to give one
    monkeypatch.delenv("FPJAX_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="FPJAX_DATA"):
        load_dataset("cifar100", "train")
    # FPJAX_DATA is used when data_dir is None
    monkeypatch.setenv("FPJAX_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="cifar-100-binary/"):
        load_dataset("cifar100", "train")
    # a folder with some files missing names them
    (tmp_path / "cifar-10-batches-bin").mkdir()
    (tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match="data_batch_2.bin"):
        load_dataset("cifar10", "train")
    with pytest.raises(DatasetNotFoundError, match="tiny-imagenet-200"):
        load_dataset("tiny_imagenet", "train", tmp_path)


def test_unknown_names_and_splits():
    with pytest.raises(ValueError) as e:
        load_dataset("mnist")
    for n in data.DATASET_NAMES:
        assert n in str(e.value)
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "validation")
    with pytest.raises(ValueError, match="label_mode"):
        data.load_cifar100("train", "/nonexistent", label_mode="medium")
    with pytest.raises(TypeError, match="options"):
        load_dataset("digits", "train", max_per_class=3)


# ----------------------------------------------------------------------------------------------
# Tiny ImageNet
# ----------------------------------------------------------------------------------------------


def _jpeg(rgb):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), rgb, np.uint8)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _tiny_tree(root):
    wnids = [f"n{i:08d}" for i in range(200)]
    _write(root / "wnids.txt", ("\n".join(wnids) + "\n").encode())
    for i, w in enumerate(wnids[:200]):
        for j in range(2 if i < 3 else 1):
            _write(root / "train" / w / "images" / f"{w}_{j}.JPEG", _jpeg((i, 10 * j, 200)))
        _write(root / "train" / w / f"{w}_boxes.txt", b"")
    ann = []
    for k, c in enumerate([5, 0, 199]):
        _write(root / "val" / "images" / f"val_{k}.JPEG", _jpeg((c, 100, 50)))
        ann.append(f"val_{k}.JPEG\t{wnids[c]}\t0\t0\t63\t63")
    _write(root / "val" / "val_annotations.txt", ("\n".join(ann) + "\n").encode())
    return wnids


def test_tiny_imagenet_folder_and_zip(tmp_path):
    _tiny_tree(tmp_path / "tiny-imagenet-200")
    x, y = load_dataset("tiny_imagenet", "train", tmp_path)
    assert x.shape == (203, 64, 64, 3) and x.dtype == np.float32
    assert y[:4].tolist() == [0, 0, 1, 1] and y[-1] == 199
    # JPEG is lossy, but a flat colour survives to within a few grey levels
    assert abs(x[2, 32, 32, 0] * 255 - 1) < 4 and abs(x[2, 32, 32, 2] * 255 - 200) < 4
    xv, yv = load_dataset("tiny_imagenet", "test", tmp_path)
    assert yv.tolist() == [5, 0, 199] and xv.shape == (3, 64, 64, 3)
    x1, y1 = load_dataset("tiny_imagenet", "train", tmp_path, max_per_class=1)
    assert x1.shape[0] == 200 and np.all(np.bincount(y1) == 1)
    # the same from the zip archive
    zroot = tmp_path / "z"
    zroot.mkdir()
    zpath = zroot / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((tmp_path / "tiny-imagenet-200").rglob("*")):
            zf.write(p, p.relative_to(tmp_path).as_posix())
    with pytest.raises(ChecksumError):  # not the official archive
        load_dataset("tiny_imagenet", "val", zroot)
    xz, yz = load_dataset(
        "tiny_imagenet", "val", zroot, checksums={"tiny-imagenet-200.zip": sha256(zpath.read_bytes())}
    )
    np.testing.assert_array_equal(xz, xv)
    np.testing.assert_array_equal(yz, yv)


# ----------------------------------------------------------------------------------------------
# shipped data
# ----------------------------------------------------------------------------------------------


def test_digits_and_upscaling():
    xtr, ytr = load_dataset("digits", "train")
    xte, yte = load_dataset("digits", "test")
    xall, yall = load_dataset("digits", "all")
    assert xtr.shape[1:] == (8, 8, 1) and xall.shape == (1797, 8, 8, 1)
    assert len(ytr) + len(yte) == 1797 and len(yte) == 359
    assert set(np.unique(ytr)) == set(range(10)) == set(np.unique(yte))
    np.testing.assert_array_equal(xall[4::5], xte)
    assert xall.min() == 0 and xall.max() == 1
    x32, y32 = load_dataset("digits32", "test")
    assert x32.shape == (359, 32, 32, 3) and x32.dtype == np.float32
    np.testing.assert_array_equal(y32, yte)
    assert x32.min() >= 0 and x32.max() <= 1
    assert np.all(x32[..., 0] == x32[..., 2])
    # bilinear upscaling preserves constants and keeps the mean brightness (4× per axis)
    const = data.upscale_images(np.full((1, 8, 8, 1), 0.3, np.float32), size=32)
    np.testing.assert_allclose(const, 0.3, rtol=1e-6)
    assert abs(x32.mean() - xte.mean()) < 0.01


def test_diabetes():
    x, y = load_dataset("diabetes", "train")
    xa, ya = load_dataset("diabetes", "all")
    assert x.shape == (354, 10) and xa.shape == (442, 10) and y.dtype == np.float32
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(0), 1, rtol=1e-5)
    assert 25 <= ya.min() and ya.max() <= 346


def test_standardize_and_photo():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(10, 4, 4, 3)).astype(np.float32)
    b = rng.uniform(size=(5, 4, 4, 3)).astype(np.float32)
    sa, sb = data.standardize(a, b)
    np.testing.assert_allclose(sa.mean((0, 1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(sa.std((0, 1, 2)), 1, rtol=1e-5)
    np.testing.assert_allclose(sb, (b - a.mean((0, 1, 2))) / (a.std((0, 1, 2)) + 1e-8), rtol=1e-5)
    im = data.load_sample_photo("china")
    assert im.shape == (427, 640) and 0 <= im.min() and im.max() <= 1


def test_tiny_imagenet_refuses_path_tricks(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = _tiny_tree(root)
    ann = root / "val" / "val_annotations.txt"
    ann.write_text(f"../../../etc/passwd\t{wnids[0]}\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="plain file name"):
        load_dataset("tiny_imagenet", "val", tmp_path)
    ann.write_text(f"missing.JPEG\t{wnids[0]}\t0\t0\t1\t1\n")
    with pytest.raises(DatasetNotFoundError, match="missing.JPEG"):
        load_dataset("tiny_imagenet", "val", tmp_path)
    (root / "wnids.txt").write_text("\n".join(["../x"] + wnids[1:]) + "\n")
    with pytest.raises(ValueError, match="plain names"):
        load_dataset("tiny_imagenet", "train", tmp_path)


# ----------------------------------------------------------------------------------------------
# data that cannot be swapped or bombed
# ----------------------------------------------------------------------------------------------


def test_sha256sums_in_the_data_folder_cannot_replace_builtin_checksums(tmp_path):
    rng = np.random.default_rng(11)
    for f in ("test_batch",):
        _write(tmp_path / "cifar-10-batches-py" / f, pickle.dumps(_py_batch(rng, 3), protocol=2))
    # a swapped file plus a SHA256SUMS that vouches for it: the built-in md5 still applies
    data.write_sha256sums(tmp_path / "cifar-10-batches-py")
    with pytest.raises(ChecksumError, match=r"md5 checksum of .*test_batch .*built-in"):
        load_dataset("cifar10", "test", tmp_path)
    # SHA256SUMS may add entries for files without a built-in checksum (checked, yet the record
    # count still applies) ...
    sums, truth = _cifar10_bin(tmp_path, rng)
    data.write_sha256sums(tmp_path / "cifar-10-batches-bin")
    with pytest.raises(ChecksumError, match="holds 3 records"):
        load_dataset("cifar10", "test", tmp_path)
    x, y = load_dataset("cifar10", "test", tmp_path, checksums=sums)
    np.testing.assert_array_equal(y, truth["test"][1])
    # ... and two checksum lists that disagree about one file are an error naming both
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  cifar-10-batches-bin/test_batch.bin\n")
    with pytest.raises(ChecksumError, match=r"conflicting sha256 entries for cifar-10-batches-bin/test_batch\.bin"):
        load_dataset("cifar10", "test", tmp_path)
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  ../outside.bin\n")
    with pytest.raises(ChecksumError, match="inside its folder"):
        load_dataset("cifar10", "test", tmp_path)


def test_links_out_of_the_data_directory_are_not_followed(tmp_path):
    rng = np.random.default_rng(12)
    outside, root = tmp_path / "outside", tmp_path / "root"
    sums, _ = _cifar10_bin(outside, rng)
    root.mkdir()
    (root / "cifar-10-batches-bin").symlink_to(outside / "cifar-10-batches-bin", target_is_directory=True)
    with pytest.raises(data.UnsafePathError, match="outside the data directory"):
        load_dataset("cifar10", "test", root, checksums=sums)
    # one file linked out
    (root / "cifar-10-batches-bin").unlink()
    _cifar10_bin(root, rng)
    p = root / "cifar-10-batches-bin" / "test_batch.bin"
    p.unlink()
    p.symlink_to(outside / "cifar-10-batches-bin" / "test_batch.bin")
    with pytest.raises(data.UnsafePathError, match="test_batch.bin resolves to"):
        load_dataset("cifar10", "test", root, checksums=False)
    # a link that stays inside the data directory is fine
    p.unlink()
    p.symlink_to(root / "cifar-10-batches-bin" / "data_batch_1.bin")
    assert load_dataset("cifar10", "test", root, checksums=False).x.shape == (3, 32, 32, 3)


def test_tiny_imagenet_links_bad_jpegs_and_sizes(tmp_path):
    import warnings

    root = tmp_path / "root"
    wnids = _tiny_tree(root / "tiny-imagenet-200")
    val = root / "tiny-imagenet-200" / "val" / "images"
    secret = _write(tmp_path / "secret.JPEG", _jpeg((1, 2, 3)))
    (val / "val_0.JPEG").unlink()
    (val / "val_0.JPEG").symlink_to(tmp_path / "secret.JPEG")
    with pytest.raises(data.UnsafePathError, match="val_0.JPEG resolves to"):
        load_dataset("tiny_imagenet", "val", root)
    # a class folder linked out of the data directory
    imgs = root / "tiny-imagenet-200" / "train" / wnids[7] / "images"
    for q in imgs.iterdir():
        q.unlink()
    imgs.rmdir()
    imgs.symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(data.UnsafePathError, match="outside the data directory"):
        load_dataset("tiny_imagenet", "train", root)
    good = _jpeg((5, 6, 7))
    (val / "val_0.JPEG").unlink()
    # corrupt, truncated and oversized JPEGs: errors naming the file
    for payload, match in (
        (b"\x00garbage" * 20, "val_0.JPEG: not a JPEG image"),
        (good[: len(good) // 2], "val_0.JPEG: the JPEG data is corrupt or truncated"),
    ):
        _write(val / "val_0.JPEG", payload)
        with pytest.raises(ValueError, match=match):
            load_dataset("tiny_imagenet", "val", root)
    # a header declaring 12000×12000 pixels is refused before any pixel is decoded
    i = good.index(b"\xff\xc0")  # SOF0: length(2) precision(1) height(2) width(2)
    big = good[: i + 5] + struct.pack(">HH", 12000, 12000) + good[i + 9 :]
    _write(val / "val_0.JPEG", big)
    import time

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"val_0.JPEG: .*declares 12000×12000 \(refused before decoding\)"):
            load_dataset("tiny_imagenet", "val", root)
    assert time.perf_counter() - t < 5
    assert secret  # (the file outside was never read: the link was refused first)


def test_corrupt_archives_are_named(tmp_path):
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 50)
    with pytest.raises(ChecksumError, match=r"cifar-10-binary\.tar\.gz is not a readable"):
        load_dataset("cifar10", "test", tmp_path, checksums=False)
    (tmp_path / "tiny-imagenet-200.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ChecksumError, match=r"tiny-imagenet-200\.zip is not a readable zip"):
        load_dataset("tiny_imagenet", "val", tmp_path, checksums=False)


def _shared_memo_bomb(breadth=26, levels=7):
    """A pickle of at most 419 bytes whose object graph is small but would expand to
    breadth**levels (8e9) nodes if shared memo references were copied: level k is a list holding
    `breadth` references to level k-1 (memo GETs)."""
    out = bytearray(b"\x80\x02}q\x00U\x04dataq\x01")  # PROTO 2, {b"data": ...}; memo 0, 1
    out += b"]q\x020"  # level 0: an empty list in memo 2 (then POP it off the stack)
    for k in range(1, levels + 1):
        out += b"(" + (b"h" + bytes([k + 1])) * breadth + b"l" + b"q" + bytes([k + 2])
        out += b"0" if k < levels else b""
    out += b"s."  # SETITEM, STOP
    return bytes(out)


def test_safe_unpickle_shares_memo_references_in_bounded_time():
    import time

    bomb = _shared_memo_bomb()
    assert len(bomb) <= 419 and 26**7 > 8e9
    t = time.perf_counter()
    obj = safe_unpickle(bomb)
    assert time.perf_counter() - t < 2.0
    top = obj[b"data"]
    assert len(top) == 26 and all(child is top[0] for child in top)  # shared, not copied
    # the same graph through the CIFAR reader: refused quickly, naming the file
    t = time.perf_counter()
    with pytest.raises(ValueError, match="data_batch_1"):
        from fpjax._src.data import _decode_cifar_py

        _decode_cifar_py(bomb, "cifar-10-batches-py/data_batch_1", (10,), ("labels",))
    assert time.perf_counter() - t < 2.0
    from fpjax._src.data import _decode_cifar_py

    # labels as a list of shared lists are refused without materialising them
    lab = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [[1] * 4] * 2}, protocol=2)
    with pytest.raises(ValueError, match="flat list of integers"):
        _decode_cifar_py(lab, "x", (10,), ("labels",))
    # a container that holds itself is refused
    with pytest.raises(UnsafePickleError, match="cyclic"):
        safe_unpickle(b"\x80\x02]q\x00h\x00a.")


def test_user_checksum_file_only_adds_checks(tmp_path):
    # One-record .bin files vouched for by a SHA256SUMS written by the user: the record count of the
    # official files still applies, in the folder and in the data directory's root, and for a
    # home-made archive named in SHA256SUMS.
    _cifar10_bin(tmp_path, np.random.default_rng(13), n=1)
    data.write_sha256sums(tmp_path / "cifar-10-batches-bin")
    for split in ("train", "test"):
        with pytest.raises(ChecksumError, match="holds 1 records, the official file holds 10000"):
            data.load_cifar10(split, tmp_path)
    (tmp_path / "cifar-10-batches-bin" / "SHA256SUMS").unlink()
    lines = [
        f"{sha256(p.read_bytes())}  cifar-10-batches-bin/{p.name}\n"
        for p in sorted((tmp_path / "cifar-10-batches-bin").iterdir())
    ]
    (tmp_path / "SHA256SUMS").write_text("".join(lines))
    with pytest.raises(ChecksumError, match="holds 1 records"):
        data.load_cifar10("test", tmp_path)
    # a checksum in code (checksums=) is an explicit decision and does fix the content
    sums = {
        f"cifar-10-batches-bin/{p.name}": sha256(p.read_bytes()) for p in (tmp_path / "cifar-10-batches-bin").iterdir()
    }
    assert data.load_cifar10("test", tmp_path, checksums=sums).x.shape == (1, 32, 32, 3)
    root = tmp_path / "root"
    root.mkdir()
    tar = root / "cifar-10-binary.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(tmp_path / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    (root / "SHA256SUMS").write_text(f"{sha256(tar.read_bytes())}  cifar-10-binary.tar.gz\n")
    # the home-made archive fails its built-in md5 before any SHA256SUMS entry could matter
    with pytest.raises(ChecksumError, match="cifar-10-binary.tar.gz"):
        data.load_cifar10("test", root)
