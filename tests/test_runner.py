import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fpjax import cli
from fpjax._src import experiment_registry as registry
from fpjax._src import runner
from fpjax.experiment import (
    Experiment,
    MalformedExperimentError,
    claim,
    new_figure,
    save_figure,
)

TOY_CLAIM = "the mean of the samples is near 0"


def _toy_run(config, out_dir):
    x = np.random.default_rng(config["seed"]).normal(size=config["n"])
    for name in ("hist", "trace"):
        fig = new_figure()
        fig.add_subplot().plot(np.sort(x) if name == "trace" else np.histogram(x)[0])
        save_figure(fig, out_dir / f"{name}.png")
    mean, se = float(x.mean()), float(x.std() / np.sqrt(x.size))
    return {"mean": mean, "claims": [claim(TOY_CLAIM, abs(mean) < 3 * se, {"mean": mean, "se": se})]}


TOY = Experiment(
    name="toy",
    description="a toy experiment",
    claim=TOY_CLAIM,
    source="none (a test)",
    quick={"n": 200},
    full={"n": 20000},
    run=_toy_run,
    figures={"hist.png": "histogram of the samples", "trace.png": "sorted samples"},
)


def use_experiments(monkeypatch, experiments):
    """Make ``experiments`` ({name: Experiment}) the registry's experiments for one test."""
    monkeypatch.setattr(registry, "declarations", lambda: dict(experiments))
    monkeypatch.setattr(registry, "modules", lambda: dict(experiments))


@pytest.fixture
def toy(monkeypatch):
    use_experiments(monkeypatch, {"toy": TOY})
    return TOY


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def test_run_writes_config_metrics_and_report(toy, tmp_path):
    m = runner.run_experiment("toy", "quick", seed=3, out_root=tmp_path)
    cfg = json.loads((tmp_path / "toy" / "config.json").read_text())
    assert cfg["config"] == {"n": 200, "seed": 3} and cfg["setting"] == "quick"
    saved = json.loads((tmp_path / "toy" / "metrics.json").read_text())
    assert saved["mean"] == m["mean"] and saved["claims"][0]["held"] in (True, False)
    # Same seed, same metrics; another seed, other metrics.
    again = runner.run_experiment("toy", "quick", seed=3, out_root=tmp_path)
    assert again["mean"] == m["mean"]
    assert runner.run_experiment("toy", "quick", seed=4, out_root=tmp_path / "b")["mean"] != m["mean"]
    page = runner.build_report(tmp_path)
    assert page == tmp_path / "index.html" and page.exists()
    parser = _Links()
    parser.feed(page.read_text())
    pngs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*.png"))
    assert sorted(parser.srcs) == pngs and len(pngs) == 2
    for src in parser.srcs:
        with Image.open(tmp_path / src) as im:
            assert im.format == "PNG" and im.size[0] > 10
    assert "the mean of the samples is near 0" in page.read_text()
    assert "histogram of the samples" in page.read_text()  # the declared caption


def test_overrides_and_errors(toy, tmp_path):
    m = runner.run_experiment("toy", overrides={"n": 50}, out_root=tmp_path)
    assert json.loads((tmp_path / "toy" / "config.json").read_text())["config"]["n"] == 50
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*toy"):
        runner.run_experiment("nope", out_root=tmp_path)
    with pytest.raises(ValueError, match="unknown setting 'm'"):
        runner.run_experiment("toy", overrides={"m": 1}, out_root=tmp_path)
    with pytest.raises(ValueError, match="setting"):
        runner.run_experiment("toy", "medium", out_root=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        runner.run_experiment("toy", seed=-1, out_root=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        runner.build_report(tmp_path / "missing")
    assert m["claims"]


def test_unwritable_out_dir(toy, tmp_path):
    # /proc refuses new directories even to root, so this holds whoever runs the tests.
    with pytest.raises(ValueError, match="out .*cannot be created"):
        runner.run_experiment("toy", out_root="/proc/fpjax-results")


def test_out_dir_that_is_a_file(toy, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="out .*(cannot be created|not a directory)"):
        runner.run_experiment("toy", out_root=f)


def test_cli(toy, tmp_path, capsys):
    assert cli.main(["list"]) == 0
    assert "toy" in capsys.readouterr().out
    assert cli.main(["run", "toy", "--out", str(tmp_path), "--set", "n=30"]) == 0
    assert (tmp_path / "index.html").exists()
    assert cli.main(["run", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_real_experiments_follow_the_contract():
    mods = runner._modules()
    for name, exp in mods.items():
        assert isinstance(exp, Experiment) and exp.name == name
        assert set(exp.quick) == set(exp.full), f"{name}: quick and full must have the same settings"
        json.dumps(dict(exp.quick)), json.dumps(dict(exp.full))
        assert re.search(r"arXiv:\d{4}\.\d{4,5}|10\.\d{4,9}/", exp.source), f"{name}: cite the paper"
        assert exp.figures, f"{name}: declare a caption for each figure"
    # Experiments use only the public API (the same files ship in the wheel as fpjax._experiments).
    pkg = Path(runner.experiments_package().__file__).parent
    for f in pkg.glob("*.py"):
        text = f.read_text()
        assert "fpjax._src" not in text and "from experiments" not in text, f.name
    for name in runner.DEMO:
        if name not in mods:
            pytest.fail(f"demo experiment {name} is missing")


def test_malformed_module_is_refused_not_skipped(tmp_path, monkeypatch):
    import types

    pkg = tmp_path / "pkg_bad"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_helper.py").write_text("X = 1\n")  # private: not an experiment
    # constants without EXPERIMENT = Experiment(...): the one way to declare is missing
    (pkg / "broken.py").write_text("NAME = 'broken'\nDESCRIPTION = 'd'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "experiments_package", lambda: __import__("pkg_bad"))
    with pytest.raises(MalformedExperimentError, match="broken.py: not an experiment module: define EXPERIMENT"):
        runner.list_experiments()
    (pkg / "broken.py").write_text("import nonexistent_module_xyz\n")
    monkeypatch.delitem(__import__("sys").modules, "pkg_bad.broken", raising=False)
    with pytest.raises(MalformedExperimentError, match="broken.py cannot be imported"):
        runner.list_experiments()
    assert isinstance(types, object)


def test_declaration_is_checked():
    kw = dict(name="x", description="d", claim="c", source="s", quick={"n": 1}, full={"n": 2}, run=_toy_run)
    Experiment(**kw)
    for bad, match in [
        ({"name": "has space"}, "name"),
        ({"full": {"m": 1}}, "same settings"),
        ({"quick": {"n": float("nan")}}, "finite"),
        ({"quick": {"n": object()}}, "JSON"),
        ({"run": None}, "callable"),
        ({"description": ""}, "description"),
        ({"quick": {"n": 1, "seed": 0}, "full": {"n": 1, "seed": 0}}, "seed"),
    ]:
        with pytest.raises(MalformedExperimentError, match=match):
            Experiment(**{**kw, **bad})


def test_settings_are_typed_from_the_defaults():
    exp = Experiment(
        name="x",
        description="d",
        claim="c",
        source="s",
        run=_toy_run,
        quick={
            "steps": 10,
            "lr": 0.1,
            "flag": False,
            "widths": [1, 2],
            "rates": [0.1],
            "name": "a",
            "opt": None,
            "cut": None,
        },
        full={
            "steps": 100,
            "lr": 0.01,
            "flag": True,
            "widths": [4],
            "rates": [0.5, 1.0],
            "name": "b",
            "opt": None,
            "cut": 3,
        },
    )
    cfg = exp.config(
        "quick",
        {"steps": 3, "lr": 1, "flag": True, "widths": [7], "rates": [2, 0.5], "opt": {"any": [1]}, "cut": 5},
        seed=2,
    )
    assert cfg["steps"] == 3 and cfg["lr"] == 1 and cfg["flag"] is True and cfg["seed"] == 2
    assert exp.config("quick", {"cut": None})["cut"] is None
    for key, value in [
        ("steps", 2.5),
        ("steps", True),
        ("steps", "3"),
        ("lr", "x"),
        ("flag", 1),
        ("flag", "true"),
        ("widths", [1.5]),
        ("widths", 3),
        ("rates", ["a"]),
        ("name", 1),
        ("cut", 2.5),
        ("lr", float("inf")),
    ]:
        with pytest.raises(ValueError, match=f"setting '{key}'"):
            exp.config("quick", {key: value})
    with pytest.raises(ValueError, match="unknown setting 'nope'"):
        exp.config("quick", {"nope": 1})


def test_failed_run_keeps_previous_results(toy, tmp_path, monkeypatch):
    runner.run_experiment("toy", seed=1, out_root=tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "toy").iterdir()}

    def boom(config, out_dir):
        save_figure(new_figure(), out_dir / "hist.png")  # a figure is written, then the run fails
        raise RuntimeError("boom")

    import dataclasses

    use_experiments(monkeypatch, {"toy": dataclasses.replace(TOY, run=boom)})
    with pytest.raises(RuntimeError, match="boom"):
        runner.run_experiment("toy", seed=2, out_root=tmp_path)
    after = {p.name: p.read_bytes() for p in (tmp_path / "toy").iterdir()}
    assert after == before  # config, metrics and figures all from the seed-1 run
    assert [p.name for p in tmp_path.iterdir()] == ["toy"]  # no staging directory left behind


def test_files_follow_the_umask(toy, tmp_path):
    import os

    old = os.umask(0o027)
    try:
        runner.run_experiment("toy", out_root=tmp_path)
        runner.build_report(tmp_path)
    finally:
        os.umask(old)
    for p in [tmp_path / "index.html", *(tmp_path / "toy").iterdir()]:
        assert p.stat().st_mode & 0o777 == 0o640, p
    assert (tmp_path / "toy").stat().st_mode & 0o777 == 0o750


def test_report_escapes_every_value(toy, tmp_path):
    runner.run_experiment("toy", out_root=tmp_path)
    m = json.loads((tmp_path / "toy" / "metrics.json").read_text())
    evil = "<script>alert(1)</script>"
    m["claims"].append({"claim": evil, "held": evil, "evidence": {evil: evil}})
    m["runtime_s"] = evil
    (tmp_path / "toy" / "metrics.json").write_text(json.dumps(m))
    cfg = json.loads((tmp_path / "toy" / "config.json").read_text())
    cfg["setting"], cfg["started"], cfg["config"][evil] = evil, evil, evil
    cfg["platform"]["jax"] = evil
    (tmp_path / "toy" / "config.json").write_text(json.dumps(cfg))
    page = runner.build_report(tmp_path).read_text()
    assert "<script" not in page.lower() and "&lt;script&gt;" in page


def test_report_refuses_malformed_metrics(toy, tmp_path):
    runner.run_experiment("toy", out_root=tmp_path)
    (tmp_path / "toy" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json is malformed"):
        runner.build_report(tmp_path)


@pytest.mark.slow
def test_wheel_ships_experiments_inside_fpjax(tmp_path):
    """The wheel installs no top-level ``experiments`` package; installed, the runner finds the experiments
    in ``fpjax._experiments``."""
    import os
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed: cannot build the wheel")
    root = Path(runner.__file__).resolve().parents[2]
    subprocess.run(
        [uv, "build", "--wheel", "-o", str(tmp_path / "dist"), str(root)], check=True, capture_output=True, timeout=600
    )
    (wheel,) = (tmp_path / "dist").glob("fpjax-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"fpjax", wheel.name.split("-py")[0] + ".dist-info"}
    shipped = {Path(n).name for n in names if n.startswith("fpjax/_experiments/")}
    assert shipped == {p.name for p in (root / "experiments").glob("*.py")}
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = (
        "from fpjax._src import runner; import sys; p = runner.experiments_package(); "
        "print(p.__name__, sorted(runner.list_experiments()) == sorted(sys.argv[1].split(',')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, ",".join(runner.list_experiments())],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.stdout.split() == ["fpjax._experiments", "True"], out.stderr[-2000:]


def test_claim_helper():
    import jax.numpy as jnp

    from fpjax.experiment import summarize_claims

    c = claim("x", jnp.all(jnp.arange(3) < 5), {"v": np.arange(2), "t": (1.5, np.inf)})
    assert c == {"claim": "x", "held": True, "evidence": {"v": [0, 1], "t": [1.5, "inf"]}}
    assert claim("y", np.float64(1) > 2, {})["held"] is False
    for bad in (1, 0.5, None, "yes", np.array([True, False])):
        with pytest.raises(TypeError, match="held must be a boolean"):
            claim("z", bad, {})
    with pytest.raises(ValueError, match="text"):
        claim("", True, {})
    assert summarize_claims({"claims": [c, claim("y", False, {})]}) == (1, 2, False)
    with pytest.raises(ValueError, match=r"claims\[0\]"):
        summarize_claims([{"claim": "x", "held": "yes"}])


def test_seed_keys_are_the_documented_derivation():
    import jax

    from fpjax.experiment import seed_key, seed_keys

    data = jax.random.key_data
    assert (data(seed_keys(3, 4)) == data(jax.random.split(jax.random.key(3), 4))).all()
    want = jax.random.split(jax.random.fold_in(jax.random.fold_in(jax.random.key(3), 2), 7), 5)
    assert (data(seed_keys(3, 5, 2, 7)) == data(want)).all()
    assert (data(seed_key(3)) == data(jax.random.key(3))).all()
    for bad in (-1, 1.0, True, 2**63):
        with pytest.raises(ValueError, match="seed"):
            seed_key(bad)
    with pytest.raises(ValueError, match="n must be"):
        seed_keys(0, 0)


def test_declarations_are_read_from_source_or_imported(tmp_path, monkeypatch):
    import sys

    from fpjax._src.experiment_spec import ExperimentInfo

    pkg = tmp_path / "pkg_decl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    common = (
        "from fpjax.experiment import Experiment, claim\n"
        "def run(config, out_dir):\n    return {'claims': [claim('c', True, {})]}\n"
    )
    (pkg / "static.py").write_text(
        common + "NAME = 'static'\nQUICK = {'n_seeds': 2, 'lr': 0.1}\nFULL = dict(QUICK, n_seeds=8)\n"
        "EXPERIMENT = Experiment(name=NAME, description='d', claim='c', source='s', quick=QUICK, full=FULL, run=run)\n"
    )
    (pkg / "computed.py").write_text(  # settings computed by code: the module must be imported
        common + "QUICK = {f'n_{k}': 1 for k in 'ab'}\n"
        "EXPERIMENT = Experiment(name='computed', description='d', claim='c', source='s', quick=QUICK, "
        "full=QUICK, run=run)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "experiments_package", lambda: __import__("pkg_decl"))
    decls = registry.declarations()
    assert isinstance(decls["static"], ExperimentInfo) and "pkg_decl.static" not in sys.modules
    assert dict(decls["static"].full) == {"n_seeds": 8, "lr": 0.1}
    assert isinstance(decls["computed"], Experiment) and dict(decls["computed"].quick) == {"n_a": 1, "n_b": 1}
    assert registry.get_experiment("static").full["n_seeds"] == 8  # imported to run
    with pytest.raises(ValueError, match="did you mean 'static'"):
        registry.get_experiment("statik")
    (pkg / "bad.py").write_text(common + "EXPERIMENT = Experiment(name='has space', description='d', claim='c', "
                                "source='s', quick={}, full={}, run=run)\n")  # fmt: skip
    with pytest.raises(MalformedExperimentError, match="bad.py: name must be a dashed identifier"):
        registry.declarations()
