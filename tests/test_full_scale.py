"""Every experiment's ``--full`` code path, end to end on a CPU, and the GPU script's ``--dry-run``.

Each experiment runs with its full settings except the counts of ``benchmarks/full_scale.py``'s
``DRY_RUN_OVERRIDES`` (steps, epochs, seeds, training points, widths, grid sizes: never a model, a
data set, an activation or any other list of cases), through the public ``run_experiment`` and its
overrides. The CNN experiments read tiny stand-in files written in the official CIFAR-10 and
CIFAR-100 binary and Tiny ImageNet formats into a temporary folder named by ``FPJAX_DATA``; the
loader checks each CIFAR ``.bin`` file's record count against the official one, so the tests declare
the stand-ins' 12 records as that count (as tests/test_exp_fp.py does).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fpjax._src import data as data_src
from fpjax.experiment import list_experiments, run_experiment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import full_scale  # noqa: E402

from fpjax._src.runner import get_experiment  # noqa: E402

NAMES = sorted(list_experiments())


@pytest.fixture(scope="module")
def standin_root(tmp_path_factory):
    return full_scale.write_standin_data(tmp_path_factory.mktemp("data"))


@pytest.fixture
def standin_data(standin_root, monkeypatch):
    """Stand-ins in FPJAX_DATA, their size declared official; returns the list of (name, split,
    number of images) that fpjax.data.load_dataset returned while the test ran."""
    import fpjax.data

    monkeypatch.setenv("FPJAX_DATA", str(standin_root))
    for spec in data_src._CIFAR.values():
        monkeypatch.setitem(spec, "records", {"train": full_scale.STANDIN_RECORDS, "test": full_scale.STANDIN_RECORDS})
    loaded, load = [], fpjax.data.load_dataset

    def spy(name, split="train", *args, **kwargs):
        out = load(name, split, *args, **kwargs)
        loaded.append((name, split, len(out.y)))
        return out

    monkeypatch.setattr(fpjax.data, "load_dataset", spy)
    return loaded


def _not_larger(small, full) -> bool:
    """``small`` is ``full`` with counts made smaller: numbers ≤, lists no longer and no entry above
    the full list's largest, mappings with the same keys; ``None`` (all) may become any count."""
    if full is None:
        return isinstance(small, int) and not isinstance(small, bool)
    if isinstance(full, bool) or isinstance(small, bool):
        return False
    if isinstance(full, (int, float)):
        return isinstance(small, (int, float)) and small <= full
    if isinstance(full, list) and not all(isinstance(v, (int, float)) for v in full):
        return isinstance(small, list) and 0 < len(small) and all(v in full for v in small)  # a subset of cases
    if isinstance(full, list):
        nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in full + small)
        return nums and isinstance(small, list) and 0 < len(small) <= len(full) and max(small) <= max(full)
    if isinstance(full, dict):
        return (
            isinstance(small, dict)
            and small.keys() == full.keys()
            and all(_not_larger(small[k], full[k]) for k in full)
        )
    return False


# The only lists of cases the dry run shortens (each is one compiled program per entry, with the
# same code; the reasons are in benchmarks/full_scale.py). Every other list keeps its length.
SHORTENED_CASE_LISTS = {("hys1-depth", "depths"), ("hys1-depth", "omega0_probe"), ("hys4-cnn-bandwidth", "models")}


def test_every_experiment_has_dry_run_counts_that_only_shrink():
    assert sorted(full_scale.DRY_RUN_OVERRIDES) == NAMES
    for name, ov in full_scale.DRY_RUN_OVERRIDES.items():
        exp = get_experiment(name)
        exp.config("full", ov)  # type- and range-checked like `fpjax run --set`
        for k, v in ov.items():
            assert _not_larger(v, exp.full[k]), (name, k, v, exp.full[k])
            if isinstance(v, list) and (name, k) not in SHORTENED_CASE_LISTS:
                assert len(v) == len(exp.full[k]), (name, k)
        assert not {"dataset", "datasets", "model", "activations", "data_dir"} & ov.keys(), name


def test_datasets_needed_and_missing_data(tmp_path):
    needs = {n: full_scale.datasets_needed(get_experiment(n).full) for n in NAMES}
    assert needs["hys4-cnn-bandwidth"] == ["cifar10", "cifar100", "tiny_imagenet"]
    assert needs["fr-ssr"] == needs["fr-robustness"] == ["cifar10"]
    assert {n for n, d in needs.items() if d} == {"hys4-cnn-bandwidth", "fr-ssr", "fr-robustness"}
    assert len(full_scale.missing_data(["cifar10", "tiny_imagenet"], tmp_path)) == 2
    assert len(full_scale.missing_data(["cifar10"], None)) == 1
    (tmp_path / "cifar-10-batches-py").mkdir()
    assert [m.split()[0] for m in full_scale.missing_data(["cifar10", "cifar100"], tmp_path)] == ["cifar100"]


def test_standins_read_back_in_the_official_formats(standin_data):
    from fpjax.data import load_dataset  # (the spy of the fixture)

    for name, n_train, n_test, side, classes in (
        ("cifar10", 60, 12, 32, 10),
        ("cifar100", 12, 12, 32, 100),
        ("tiny_imagenet", 200, 8, 64, 200),
    ):
        x, y = load_dataset(name, "train")
        xt, yt = load_dataset(name, "test")
        assert x.shape == (n_train, side, side, 3) and xt.shape == (n_test, side, side, 3)
        assert 0 <= y.min() and max(y.max(), yt.max()) < classes
    # without the declared stand-in size, the loader refuses them (the official count applies)
    data_src._CIFAR["cifar10"]["records"] = {"train": 10000, "test": 10000}
    with pytest.raises(data_src.ChecksumError, match="holds 12 records, the official file holds 10000"):
        load_dataset("cifar10", "test")


def _finite_or_flagged(v, path="") -> list[str]:
    """Paths of the non-finite numbers in a JSON document (NaN written as a float or a string)."""
    if isinstance(v, dict):
        return [p for k, x in v.items() for p in _finite_or_flagged(x, f"{path}/{k}")]
    if isinstance(v, list):
        return [p for i, x in enumerate(v) for p in _finite_or_flagged(x, f"{path}[{i}]")]
    if isinstance(v, float) and not math.isfinite(v) or v in ("nan", "NaN", "inf", "-inf"):
        return [path]
    return []


# The README's test command runs two of them (an MLP experiment and a CNN one on the stand-in CIFAR
# files); `pytest -m fullscale tests/test_full_scale.py` runs every experiment (15–25 CPU minutes).
IN_DEFAULT_RUN = ("fp-1d", "fr-robustness")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in IN_DEFAULT_RUN else pytest.mark.fullscale) for n in NAMES]
)
def test_full_settings_run_end_to_end(name, standin_data, tmp_path):
    exp = get_experiment(name)
    ov = full_scale.DRY_RUN_OVERRIDES[name]
    metrics = run_experiment(name, "full", seed=0, out_root=tmp_path, overrides=ov)
    saved = json.loads((tmp_path / name / "metrics.json").read_text())
    config = json.loads((tmp_path / name / "config.json").read_text())
    assert config["setting"] == "full"
    assert config["config"] == dict(exp.full, **ov, seed=0)
    # every claim was decided (held or not) and written
    assert saved["claims"] and all(isinstance(c["held"], bool) for c in saved["claims"])
    assert [c["held"] for c in saved["claims"]] == [c["held"] for c in metrics["claims"]]
    # the CNN experiments read every data set of their full settings: the stand-in files
    sizes = {"cifar10": (60, 12), "cifar100": (12, 12), "tiny_imagenet": (200, 8)}
    for d in full_scale.datasets_needed(exp.full):
        assert (d, "train", sizes[d][0]) in standin_data and (d, "test", sizes[d][1]) in standin_data
    nonfinite = _finite_or_flagged(saved)
    print(f"{name}: claims held {[c['held'] for c in saved['claims']]}; non-finite: {nonfinite[:8]}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "names", [pytest.param(("fp-1d",)), pytest.param(("fp-1d", "fr-ssr"), marks=pytest.mark.fullscale)]
)
def test_gpu_ledger_dry_run_is_resumable_and_skips_missing_data(tmp_path, names):
    script = ["bash", str(ROOT / "benchmarks" / "gpu-ledger.sh"), "--dry-run", "--results", str(tmp_path / "r")]
    env = {k: v for k, v in os.environ.items() if k != "FPJAX_DATA"}

    def run(*extra):
        p = subprocess.run([*script, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    out = run(*names)
    assert "run  fp-1d: fpjax run fp-1d --full" in out and f"done {names[-1]}" in out
    led = tmp_path / "r-ledger"
    for name in names:
        rec = json.loads((led / "full" / f"{name}.json").read_text())
        assert rec["scale"] == "full" and rec["overrides"] == full_scale.DRY_RUN_OVERRIDES[name]
    assert names[-1] in (led / "ledger.md").read_text()
    # again: all finished, nothing runs; with an empty data folder, a CNN experiment is skipped
    out = run(*names)
    assert all(f"skip {n}: finished" in out for n in names) and "run  " not in out
    (tmp_path / "empty").mkdir()
    out = run("--data", str(tmp_path / "empty"), "fr-robustness")
    assert "skip fr-robustness: its data are not there: cifar10" in out and "run  " not in out
