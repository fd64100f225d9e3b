"""The ``fpjax`` command line: typed settings, one-line errors, atomic results, interrupts, distributed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from fpjax import cli
from fpjax._src import experiment_registry as registry
from fpjax._src import runner
from fpjax.experiment import Experiment, claim, new_figure, save_figure


def _run(config, out_dir):
    x = np.random.default_rng(config["seed"]).normal(size=config["n"])
    fig = new_figure((2, 2))
    fig.subplots().plot(np.sort(x))
    save_figure(fig, out_dir / "trace.png")
    return {"mean": float(x.mean()), "claims": [claim("mean near 0", abs(x.mean()) < 1, {"mean": x.mean()})]}


TOY = Experiment(
    name="toy",
    description="a toy",
    claim="mean near 0",
    source="none (a test)",
    quick={"n": 20, "scale": 1.0, "flag": False, "sizes": [1, 2]},
    full={"n": 2000, "scale": 1.0, "flag": False, "sizes": [1, 2]},
    run=_run,
    figures={"trace.png": "sorted samples"},
)



def use_experiments(monkeypatch, experiments):
    """Make ``experiments`` ({name: Experiment}) the registry's experiments for one test."""
    monkeypatch.setattr(registry, "declarations", lambda: dict(experiments))
    monkeypatch.setattr(registry, "modules", lambda: dict(experiments))


@pytest.fixture
def toy(monkeypatch):
    use_experiments(monkeypatch, {"toy": TOY})


def _err_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "setting, match",
    [
        ("n=2.5", "'n' of experiment 'toy' must be an int; got 2.5"),
        ("n=true", "must be an int"),
        ("flag=1", "must be a boolean"),
        ("sizes=[1.5]", "must be a list"),
        ("sizes=3", "must be a list"),
        ("scale=abc", "must be a number"),
        ("scale=NaN", "finite"),
        ("nope=1", "unknown setting 'nope'"),
        ("noequals", "KEY=VALUE"),
    ],
)
def test_set_is_typed_and_refused_in_one_line(toy, tmp_path, capsys, setting, match):
    assert cli.main(["run", "toy", "--out", str(tmp_path), "--set", setting]) == 2
    assert match in _err_line(capsys)
    assert not (tmp_path / "toy").exists()


def test_good_settings_are_recorded_as_given(toy, tmp_path, capsys):
    assert (
        cli.main(
            [
                "run",
                "toy",
                "--out",
                str(tmp_path),
                "--set",
                "n=30",
                "--set",
                "scale=2",
                "--set",
                "flag=true",
                "--set",
                "sizes=[3]",
            ]
        )
        == 0
    )
    cfg = json.loads((tmp_path / "toy" / "config.json").read_text())["config"]
    assert cfg == {"n": 30, "scale": 2, "flag": True, "sizes": [3], "seed": 0}


def test_errors_are_one_line_with_exit_2(toy, tmp_path, capsys):
    assert cli.main(["run", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown experiment 'nope'" in _err_line(capsys)
    assert cli.main(["run", "toy", "--bogus"]) == 2
    assert "unrecognized arguments" in _err_line(capsys)
    for seed in ("99999999999999999999999", "-1"):  # would overflow the PRNG key / is negative
        assert cli.main(["run", "toy", "--out", str(tmp_path), "--seed", seed]) == 2
        assert "seed must be an int in [0, 2**63)" in _err_line(capsys)
    assert cli.main(["run", "toy", "--out", str(tmp_path), "--set", "n=1e400"]) == 2  # float overflow
    assert "finite" in _err_line(capsys)
    # malformed metrics, unwritable output
    assert cli.main(["run", "toy", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    (tmp_path / "toy" / "metrics.json").write_text("[1, 2")
    assert cli.main(["report", "--out", str(tmp_path)]) == 2
    assert "metrics.json is malformed" in _err_line(capsys)
    assert cli.main(["run", "toy", "--out", "/proc/fpjax-results"]) == 2
    assert "cannot be created" in _err_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_permission_error_is_one_line(toy, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert cli.main(["run", "toy", "--out", str(ro / "sub")]) == 2
        assert "fpjax: error" in _err_line(capsys)
    finally:
        ro.chmod(0o700)


def test_distributed_only_main_process_writes(toy, tmp_path, monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("fpjax.distributed")
    fake.initialize = lambda: calls.append("initialize")
    fake.is_main_process = lambda: calls.append("is_main") or False
    fake.launch_local = lambda n, argv: calls.append(("launch", n, list(argv))) or 3
    monkeypatch.setitem(sys.modules, "fpjax.distributed", fake)
    import fpjax

    monkeypatch.setattr(fpjax, "distributed", fake, raising=False)
    assert cli.main(["run", "toy", "--distributed", "--out", str(tmp_path)]) == 0
    assert calls[0] == "initialize" and "is_main" in calls
    assert not any(tmp_path.iterdir())  # a non-main process writes nothing
    fake.is_main_process = lambda: True
    assert cli.main(["run", "toy", "--distributed", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "toy" / "metrics.json").exists() and (tmp_path / "index.html").exists()
    assert cli.main(["launch", "--local", "2", "run", "toy", "--quick"]) == 3
    # the processes are one job: launch adds --distributed (to run and demo) unless given
    assert calls[-1] == ("launch", 2, ["run", "--distributed", "toy", "--quick"])
    assert cli.main(["launch", "--local", "2", "run", "toy", "--distributed"]) == 3
    assert calls[-1] == ("launch", 2, ["run", "toy", "--distributed"])
    assert cli.main(["launch", "--local", "2", "report"]) == 3
    assert calls[-1] == ("launch", 2, ["report"])
    assert cli.main(["launch", "--local", "0", "run", "toy"]) == 2


_SLOW_TOY = textwrap.dedent("""
    import pathlib, signal, sys, time
    # A terminal's Ctrl-C: Python installs its KeyboardInterrupt handler only when SIGINT is not
    # ignored at start-up, and a shell's background job (`cmd &` without job control, e.g. a CI
    # script run in the background) inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fpjax import cli
    from fpjax._src import runner
    from fpjax.experiment import Experiment, claim, new_figure, save_figure

    def run(config, out_dir):
        save_figure(new_figure((2, 2)), out_dir / "fig.png")
        if config["sleep"]:
            pathlib.Path(sys.argv[2]).write_text("started")
            time.sleep(60)
        return {"seed": config["seed"], "claims": [claim("ran", True, {"seed": config["seed"]})]}

    exp = Experiment(name="slow", description="d", claim="c", source="s", quick={"sleep": False},
                     full={"sleep": False}, run=run)
    registry.declarations = registry.modules = lambda: {"slow": exp}
    sys.exit(cli.main(["run", "slow", "--out", sys.argv[1], "--seed", sys.argv[3], "--set", "sleep=" + sys.argv[4]]))
""")


@pytest.mark.slow
def test_sigint_exits_130_and_keeps_previous_results(tmp_path):
    script = tmp_path / "slow_toy.py"
    script.write_text(_SLOW_TOY)
    out, marker = tmp_path / "results", tmp_path / "started"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, str(script), str(out), str(marker), "1", "false"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in (out / "slow").iterdir()}
    assert json.loads(before["metrics.json"])["seed"] == 1

    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), str(marker), "2", "true"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.time()
    while not marker.exists():
        assert proc.poll() is None and time.time() - t0 < 300, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    after = {p.name: p.read_bytes() for p in (out / "slow").iterdir()}
    assert after == before  # config, metrics and figure of the seed-1 run, untouched
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "slow"]  # no staging directory left


@pytest.mark.slow
def test_launch_local_two_processes_one_writer(tmp_path):
    """``fpjax launch --local 2 run fp-1d --distributed``: both processes join one JAX job (the config
    records 2 processes) and only process 0 writes the results and the report."""
    out = tmp_path / "results"
    argv = [
        "launch",
        "--local",
        "2",
        "run",
        "fp-1d",
        "--distributed",
        "--out",
        str(out),
        "--set",
        "steps=60",
        "--set",
        "n_seeds=2",
        "--set",
        "record_every=20",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "fpjax", *argv],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["fp-1d", "index.html"]  # no staging leftovers
    cfg = json.loads((out / "fp-1d" / "config.json").read_text())
    assert cfg["platform"]["processes"] == 2 and cfg["config"]["steps"] == 60
    assert json.loads((out / "fp-1d" / "metrics.json").read_text())["claims"]
    assert done.stdout.count("results in ") == 1  # one process reported


def test_settings_of_several_experiments(monkeypatch, tmp_path, capsys):
    import dataclasses

    other = dataclasses.replace(
        TOY,
        name="other",
        quick={"m": 1},
        full={"m": 2},
        run=lambda c, d: {"claims": [claim("m", c["m"] == 3, {"m": c["m"]})]},
    )
    use_experiments(monkeypatch, {"toy": TOY, "other": other})
    assert cli.main(["run", "all", "--out", str(tmp_path), "--set", "m=3", "--set", "n=7"]) == 0
    assert json.loads((tmp_path / "other" / "config.json").read_text())["config"] == {"m": 3, "seed": 0}
    assert json.loads((tmp_path / "toy" / "config.json").read_text())["config"]["n"] == 7
    capsys.readouterr()
    assert cli.main(["run", "all", "--out", str(tmp_path), "--set", "zz=1"]) == 2
    assert "none of the experiments" in _err_line(capsys)
    assert cli.main(["run", "toy", "other", "--out", str(tmp_path), "--set", "m=1.5"]) == 2
    assert "'m' of experiment 'other' must be an int" in _err_line(capsys)
