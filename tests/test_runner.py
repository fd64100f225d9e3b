import json
import types
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from fpjax import cli
from fpjax._src import io, runner


def _toy_module():
    mod = types.ModuleType("toy")
    mod.NAME, mod.DESCRIPTION, mod.CLAIM = "toy", "a toy experiment", "the mean of the samples is near 0"
    mod.QUICK, mod.FULL = {"n": 200}, {"n": 20000}

    def run(config, out_dir):
        import matplotlib.figure

        x = np.random.default_rng(config["seed"]).normal(size=config["n"])
        for name in ("hist", "trace"):
            fig = matplotlib.figure.Figure()
            fig.add_subplot().plot(np.sort(x) if name == "trace" else np.histogram(x)[0])
            io.save_figure(fig, out_dir / f"{name}.png")
        mean, se = float(x.mean()), float(x.std() / np.sqrt(x.size))
        return {"mean": mean, "claims": [{"claim": mod.CLAIM, "held": abs(mean) < 3 * se,
                                          "evidence": {"mean": mean, "se": se}}]}

    mod.run = run
    return mod


@pytest.fixture
def toy(monkeypatch):
    mod = _toy_module()
    monkeypatch.setattr(runner, "_modules", lambda: {"toy": mod})
    return mod


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
    for name, mod in mods.items():
        assert set(mod.QUICK) == set(mod.FULL), f"{name}: QUICK and FULL must have the same settings"
        json.dumps(mod.QUICK), json.dumps(mod.FULL)
    for name in runner.DEMO:
        if name not in mods:
            pytest.fail(f"demo experiment {name} is missing")
