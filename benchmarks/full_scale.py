"""Every experiment at the paper's scale (``fpjax run NAME --full``), then the ledger's "full" column.

``benchmarks/gpu-ledger.sh`` calls this on a GPU machine; ``--dry-run`` walks the same code paths on a
CPU: the full settings with only their counts shrunk (:data:`DRY_RUN_OVERRIDES`: steps, epochs, seeds,
training points, widths, grid sizes; every data set, activation, loss and learning-rate list of the
full settings is kept, and so is every other list except three noted there: hys1's depths and ω₀
probes, and hys4's nine CNNs, of which one runs) and tiny stand-in files in the exact official
CIFAR-10, CIFAR-100 (binary version) and Tiny ImageNet formats (:func:`write_standin_data`), whose
record counts are declared as the official ones for that run (:func:`standin_record_counts`).

Usage (from the repository root)::

    python benchmarks/full_scale.py [--dry-run] [--results DIR] [--data DIR] [NAME ...]

* every experiment (or the NAMEs) runs as ``fpjax run NAME --full --out DIR`` in its own process;
  an experiment whose ``DIR/NAME/metrics.json`` is already a finished ``--full`` run with the same
  settings is skipped (the run is resumable: start it again after an interruption);
* the CNN experiments read CIFAR-10/100 and Tiny ImageNet from ``--data`` (default ``$FPJAX_DATA``);
  an experiment whose data sets are not there is skipped with a line saying which files it needs;
* then ``fpjax ledger --import DIR --scale full`` distils the finished runs into ``ledger/full/`` and
  regenerates ``docs/ledger.md`` (with ``--dry-run``: the folder ``DIR-ledger`` next to the results,
  holding the records and the page, instead).

Exit status: 0 when every selected experiment finished or was skipped for missing data, 1 when one
failed (the others still run, and the finished ones are still imported).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The counts of the full settings shrunk for a CPU walk through the full-scale code paths. Lists of
# data sets, activations, learning rates, scales and frequencies are the full ones, and so are the
# architectures (resnet18, the MLP depths); a list of widths keeps its length (the depth).
DRY_RUN_OVERRIDES: dict[str, dict] = {
    "asi": {"n_seeds": 2, "steps": 10, "width": {"diabetes": 64, "digits": 64}, "digits_train": 64, "chunk_size": 2},
    "edge-of-stability": {"steps": 20, "record_every": 5, "hessian_num_iters": 4, "num_probes": 2},
    "fp-1d": {"steps": 20, "record_every": 5, "n_seeds": 2},
    "fp-2d-image": {
        "height": 16,
        "width": 24,
        "widths": [32, 32, 32, 32],
        "steps": 20,
        "record_every": 5,
        "n_seeds": 2,
    },
    "fp-highdim": {
        "n_train": 64,
        "widths": [32, 16, 8],
        "steps": 20,
        "record_every": 5,
        "n_seeds": 2,
        "n_freq_grid": 20,
    },
    "fp-init-scale": {"widths": [32], "n_test": 64, "steps": 20, "n_seeds": 2},
    "fp-parity": {"n_bits": 6, "widths": [32, 32], "steps": 20, "record_every": 5, "n_seeds": 2, "n_freqs": 17},
    "fr-robustness": {"n_train": 8, "n_test": 8, "n_seeds": 2, "epochs": 1, "batch_size": 4},
    "fr-ssr": {"n_train": 8, "n_test": 8, "n_seeds": 2, "epochs": 1, "batch_size": 4},
    # 3 activations x 7 depths are 21 compiled sweeps (10 minutes on a loaded 2-core CPU): the
    # shallowest and deepest networks only, which the claims compare
    "hys1-depth": {"depths": [2, 8], "omega0_probe": [1.0, 30.0], "width": 16, "n_grid": 64, "steps": 20, "n_seeds": 2},
    "hys2-spectral-bias": {"n_train": 64, "width": 16, "steps": 20, "record_every": 5, "n_seeds": 2},
    "hys3-init-spectrum": {"width": 16, "n_grid": 64, "pretrain_steps": 10, "steps": 20, "n_seeds": 2},
    # One model of the nine, on all three data sets: alexnet alone takes 170 CPU seconds here (the
    # compiled training, gradient and Hessian programs of each data set); it also walks the
    # per-model learning-rate override
    "hys4-cnn-bandwidth": {
        "models": ["alexnet"],
        "n_train": 4,
        "n_test": 4,
        "epochs": 1,
        "batch_size": 2,
        "pretrain_epochs": 1,
        "grad_samples": 2,
        "grad_bins": 8,
        "hessian_samples": 2,
        "hessian_batches": 1,
        "hessian_probes": 1,
        "hessian_num_iters": 2,
        "top_k": 1,
        "density_probes": 1,
        "density_num_iters": 2,
    },
    "hys5-flat-minima": {
        "n_test": 64,
        "width": 16,
        "pretrain_points": 32,
        "pretrain_steps": 10,
        "steps": 20,
        "n_seeds": 2,
        "hessian_probes": 2,
        "hessian_num_iters": 4,
    },
    "hysA2-bandwidth-init": {"n_points": 32, "width": 16, "steps": 20, "record_every": 5, "n_grid": 64, "n_seeds": 2},
    "hysA3-decay-rate": {
        "width": 16,
        "pretrain_steps": 10,
        "steps": 20,
        "record_every": 5,
        "n_grid": 64,
        "n_seeds": 2,
    },
    "init-bias": {"width": 64, "n_test": 64, "n_inits": 8, "chunk_size": 4},
    "lfp-vs-nn": {"m": [256, 512], "max_steps": 50, "n_records": 5, "n_grid": 32},
    "ntk-drift": {
        "n_train": 32,
        "widths": [16, 32, 64, 128],
        "alpha_width": 16,
        "steps": 20,
        "record_every": 10,
        "k": 4,
        "num_iters": 8,
        "num_probes": 2,
    },
    "sphere-spectral-bias": {"n_train": 64, "width": 64, "steps": 20, "record_every": 5, "quad_degree": 12},
    # the full grid and data: the kernel's decay fit needs |K̂| to fall below 1 % of its peak on the grid
    "tangent-fourier": {"width": 16, "train_steps": 10},
}

# Records per file of the stand-in CIFAR files (declared official for a dry run only).
STANDIN_RECORDS = 12


def datasets_needed(full_settings: dict) -> list[str]:
    """The CIFAR / Tiny ImageNet data sets an experiment's full settings read (``dataset(s)`` keys)."""
    names = list(full_settings.get("datasets") or []) + [full_settings.get("dataset")]
    return [d for d in names if d in ("cifar10", "cifar100", "tiny_imagenet")]


def missing_data(datasets: list[str], data_dir: str | os.PathLike | None) -> list[str]:
    """The data sets of ``datasets`` that :func:`fpjax.data.load_dataset` cannot find in ``data_dir``
    (each as ``"name: what to put where"``); only looks for the files, reads none."""
    root = Path(data_dir) if data_dir else None
    layouts = {
        "cifar10": ("cifar-10-batches-bin", "cifar-10-batches-py", "cifar-10-binary.tar.gz", "cifar-10-python.tar.gz"),
        "cifar100": ("cifar-100-binary", "cifar-100-python", "cifar-100-binary.tar.gz", "cifar-100-python.tar.gz"),
        "tiny_imagenet": ("tiny-imagenet-200", "tiny-imagenet-200.zip"),
    }
    out = []
    for d in datasets:
        if root is None or not any((root / p).exists() for p in layouts[d]):
            out.append(f"{d} (one of {', '.join(layouts[d])} in {root if root else '$FPJAX_DATA'})")
    return out


# --------------------------------------------------------------------------------------------------
# stand-in data in the official formats


def _cifar_bin(folder: Path, files: list[str], n_label_bytes: int, n_classes: tuple[int, ...], rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        labels = [rng.integers(0, c, (STANDIN_RECORDS, 1)) for c in n_classes]
        pixels = rng.integers(0, 256, (STANDIN_RECORDS, 3072))  # 1024 red, 1024 green, 1024 blue
        (folder / f).write_bytes(np.concatenate(labels + [pixels], axis=1).astype(np.uint8).tobytes())


def write_standin_data(root: str | os.PathLike, *, seed: int = 0) -> Path:
    """Tiny files in the official layouts under ``root``: ``cifar-10-batches-bin/`` (six batches of
    12 records ``<label byte><3072 pixel bytes>``), ``cifar-100-binary/`` (train and test, 12 records
    ``<coarse byte><fine byte><3072 pixel bytes>``) and ``tiny-imagenet-200/`` (``wnids.txt`` with 200
    ids, one 64×64 JPEG per class in ``train/<wnid>/images/``, 8 validation JPEGs listed in
    ``val/val_annotations.txt``). Random pixels and labels from ``seed``. Returns ``root``."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    _cifar_bin(
        root / "cifar-10-batches-bin",
        [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"],
        1,
        (10,),
        rng,
    )
    _cifar_bin(root / "cifar-100-binary", ["train.bin", "test.bin"], 2, (20, 100), rng)
    tiny = root / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(200)]
    tiny.mkdir(parents=True, exist_ok=True)
    (tiny / "wnids.txt").write_text("\n".join(wnids) + "\n")

    def jpeg(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, format="JPEG")

    for w in wnids:
        jpeg(tiny / "train" / w / "images" / f"{w}_0.JPEG")
    ann = []
    for k, c in enumerate(rng.integers(0, 200, 8)):
        jpeg(tiny / "val" / "images" / f"val_{k}.JPEG")
        ann.append(f"val_{k}.JPEG\t{wnids[c]}\t0\t0\t63\t63")
    (tiny / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")
    return root


@contextlib.contextmanager
def standin_record_counts():
    """Declare :data:`STANDIN_RECORDS` as the official record count of every CIFAR binary file
    while the block runs (the loader checks each ``.bin`` file's count against the official one)."""
    from fpjax._src import data

    saved = {k: spec["records"] for k, spec in data._CIFAR.items()}
    try:
        for spec in data._CIFAR.values():
            spec["records"] = {"train": STANDIN_RECORDS, "test": STANDIN_RECORDS}
        yield
    finally:
        for k, v in saved.items():
            data._CIFAR[k]["records"] = v


# --------------------------------------------------------------------------------------------------
# driver


def set_arguments(overrides: dict) -> list[str]:
    """``["--set", "key=<json>", ...]`` for ``fpjax run``."""
    out = []
    for k, v in overrides.items():
        out += ["--set", f"{k}={json.dumps(v)}"]
    return out


def finished(results: Path, name: str, overrides: dict) -> bool:
    """Whether ``results/name`` holds a finished ``--full`` run with exactly these overrides."""
    try:
        config = json.loads((results / name / "config.json").read_text())
        json.loads((results / name / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    from fpjax._src.runner import get_experiment

    want = get_experiment(name).config("full", overrides, seed=0)
    return config.get("setting") == "full" and config.get("config") == want


def _run_one(argv: list[str]) -> int:
    """``fpjax run`` in this process, stand-in record counts declared (``--dry-run`` children)."""
    from fpjax.cli import main

    with standin_record_counts():
        return main(argv)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", metavar="NAME", help="experiments (default: all)")
    p.add_argument("--dry-run", action="store_true", help="CPU: shrunk counts, stand-in data, temporary ledger")
    p.add_argument("--results", help="the --out folder (default: results-full, or a temporary one with --dry-run)")
    p.add_argument("--data", help="CIFAR / Tiny ImageNet folder (default: $FPJAX_DATA)")
    p.add_argument("--run-one", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.run_one is not None:
        return _run_one(args.run_one)

    from fpjax._src.runner import get_experiment, list_experiments

    names = args.names or list(list_experiments())
    tmp = Path(tempfile.mkdtemp(prefix="fpjax-full-dry-")) if args.dry_run else None
    results = Path(args.results) if args.results else (tmp / "results" if tmp else ROOT / "results-full")
    data_dir = args.data or os.environ.get("FPJAX_DATA")
    if args.dry_run and not args.data:
        data_dir = str(write_standin_data(tmp / "data"))
    env = dict(os.environ)
    if data_dir:
        env["FPJAX_DATA"] = str(Path(data_dir).resolve())
    failed, done = [], []
    for name in names:
        overrides = DRY_RUN_OVERRIDES.get(name, {}) if args.dry_run else {}
        need = missing_data(datasets_needed(get_experiment(name).full), data_dir)
        if need:
            print(f"skip {name}: its data are not there: {'; '.join(need)}", flush=True)
            continue
        if finished(results, name, overrides):
            print(f"skip {name}: finished ({results / name / 'metrics.json'})", flush=True)
            done.append(name)
            continue
        run = ["run", name, "--full", "--out", str(results), *set_arguments(overrides)]
        cmd = [sys.executable, __file__, "--run-one", *run] if args.dry_run else [sys.executable, "-m", "fpjax", *run]
        print(f"run  {name}: fpjax {' '.join(run)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, env=env, cwd=ROOT)
        print(f"{'done' if rc == 0 else 'FAIL'} {name}: {time.perf_counter() - t0:.1f} s (exit {rc})", flush=True)
        (done if rc == 0 else failed).append(name)
    if done:
        ledger = ["ledger", "--import", str(results), "--scale", "full", "--only", *done]
        if args.dry_run:  # never the repository's ledger: a folder next to the results
            side = results.parent / f"{results.name}-ledger"
            ledger += ["--ledger-dir", str(side), "--page", str(side / "ledger.md"), "--note", "dry run"]
        print(f"fpjax {' '.join(ledger)}", flush=True)
        rc = subprocess.call([sys.executable, "-m", "fpjax", *ledger], env=env, cwd=ROOT)
        failed += ["ledger"] if rc else []
    if tmp is not None and args.results:  # only the stand-in data are in the temporary folder
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"results in {results}" + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
