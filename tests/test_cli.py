"""The ``fpjax`` command line: typed settings, one-line errors, atomic results, interrupts, distributed."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pytest

from fpjax import cli
from fpjax._src import experiment_registry as registry
from fpjax.experiment import Experiment, claim, new_figure, save_figure

ROOT = Path(__file__).resolve().parents[1]


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
    from fpjax._src import experiment_registry as registry
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
def test_launch_command_of_the_docs_runs_one_job(tmp_path):
    """``fpjax launch --local 2 run fp-1d --quick``, verbatim from docs/howto/distributed.md: the two
    processes join one JAX job (launch adds ``--distributed``; the config records 2 processes) and
    only process 0 writes the results, the report and the result line."""
    text = (ROOT / "docs" / "howto" / "distributed.md").read_text()
    (command,) = set(re.findall(r"`(fpjax launch --local 2 run fp-1d[^`]*)`", text))
    assert command == "fpjax launch --local 2 run fp-1d --quick"
    script = Path(sys.executable).with_name("fpjax")  # the console script of this environment
    done = subprocess.run(
        [str(script), *shlex.split(command)[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "results"
    assert sorted(p.name for p in out.iterdir()) == ["fp-1d", "index.html"]  # no staging leftovers
    cfg = json.loads((out / "fp-1d" / "config.json").read_text())
    assert cfg["platform"]["processes"] == 2 and cfg["setting"] == "quick"
    assert json.loads((out / "fp-1d" / "metrics.json").read_text())["claims"]
    result_lines = [line for line in done.stdout.splitlines() if line.startswith("fp-1d: ")]
    assert len(result_lines) == 1 and done.stdout.count("results in ") == 1, done.stdout  # one job, one writer


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


# --------------------------------------------------------------------------------------------------
# answering without JAX: list, help, did-you-mean, typed settings


def test_list_and_help_import_no_jax():
    code = (
        "import sys, contextlib, io\nfrom fpjax import cli\n"
        "for argv in (['list'], ['list', 'fp-1d'], ['run', 'fp-1d', '--help'], ['run', 'fp1d']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        cli.main(argv)\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('jax', 'jaxlib', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_list_name_and_run_help_describe_the_experiment(capsys):
    assert cli.main(["list", "fp-highdim"]) == 0
    out = capsys.readouterr().out
    assert "fp-highdim: F-Principle in high dimension" in out and "arXiv:1901.06523" in out
    assert "On high-dimensional real data" in out  # the claim
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert rows["n_train"][1:] == ["null", "or", "int", "null", "null", "null"]  # type from the naming rule
    assert rows["steps"][1:] == ["int", "800", "3000", "20000"]  # quick, cpu and full values
    assert cli.main(["run", "fp-1d", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fpjax run") and "fp-1d: F-Principle in 1-D" in out
    assert "steps" in out and "20000" in out and "claim:" in out and "figures:" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "fp1d"], "unknown experiment 'fp1d' (did you mean 'fp-1d'?)"),
        (["list", "fp-1D"], "did you mean 'fp-1d'?"),
        (
            ["run", "fp-1d", "--set", "stpes=3"],
            "unknown setting 'stpes' for experiment 'fp-1d' (did you mean 'steps'?)",
        ),
        (
            ["run", "fp-highdim", "--set", "n_train=2.5"],
            "setting 'n_train' of experiment 'fp-highdim' must be null or an int",
        ),
        (["run", "fp-highdim", "--set", 'n_train="many"'], "setting 'n_train'"),
        (
            ["run", "fp-highdim", "--set", "data_dir=3"],
            "setting 'data_dir' of experiment 'fp-highdim' must be null or a string",
        ),
        (["run", "fp-1d", "--set", "n_seeds=0"], "setting 'n_seeds' of experiment 'fp-1d' must be a positive int"),
        (["run", "fp-1d", "--set", "steps=-5"], "setting 'steps'"),
        (
            ["run", "fp-1d", "--set", "learning_rate=-0.001"],
            "setting 'learning_rate' of experiment 'fp-1d' must be positive",
        ),
        (["run", "fp-1d", "--set", "threshold=-0.1"], "setting 'threshold' of experiment 'fp-1d' must be positive"),
        (["run", "fp-1d", "--set", "order_fraction=1.5"], "must be in [0, 1]"),
        (
            ["run", "hys1-depth", "--set", "learning_rates=[0.1, -1]"],
            "setting 'learning_rates' of experiment 'hys1-depth' must be positive",
        ),
        (["run"], "give at least one experiment NAME"),
    ],
)
def test_bad_names_and_settings_are_refused_before_jax_starts(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_start_jax", lambda distributed: pytest.fail("JAX started"))
    assert cli.main(argv) == 2
    assert message in _err_line(capsys)


def test_declarations_read_from_source_are_the_imported_ones():
    decls, mods = registry.declarations(), registry.modules()
    assert list(decls) == list(mods)
    for name, decl in decls.items():
        exp = mods[name]
        assert type(decl).__name__ == "ExperimentInfo", f"{name}: declaration not read from the source"
        for field in ("name", "description", "claim", "source", "quick", "full", "figures", "cpu"):
            assert getattr(decl, field) == getattr(exp, field), (name, field)
        assert decl.setting_types() == exp.setting_types()


def test_progress_lines_with_eta_when_piped(tmp_path, monkeypatch, capsys):
    def run(config, out_dir):
        time.sleep(0.8)
        return {"claims": [claim("slept", True, {})]}

    slow = Experiment(name="slow", description="d", claim="c", source="s", quick={"n": 1}, full={"n": 1}, run=run)
    use_experiments(monkeypatch, {"slow": slow})
    monkeypatch.setenv("FPJAX_PROGRESS_EVERY", "0.2")
    assert cli.main(["run", "slow", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "fpjax: slow: running the quick setting, seed 0" in err
    assert "fpjax: slow: running for 0 s (no earlier run of these settings" in err
    assert cli.main(["--verbose", "run", "slow", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "left (ETA from the last run of these settings)" in err  # the first run's runtime_s
    assert 'fpjax: slow: settings {"n": 1, "seed": 0}' in err  # --verbose: every stage
    assert cli.main(["run", "slow", "--out", str(tmp_path), "--set", "n=2"]) == 0  # other settings: no ETA
    assert "left (ETA" not in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# signals


def _default_sigint():  # a background job may inherit SIGINT ignored; a terminal's process does not
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_signal_mid_run_exits_removes_its_staging_folder_and_keeps_results(tmp_path, sig, status, word):
    script = tmp_path / "slow_toy.py"
    script.write_text(_SLOW_TOY)
    out, marker = tmp_path / "results", tmp_path / "started"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, str(script), str(out), str(marker), "1", "false"], env=env, timeout=300)
    assert done.returncode == 0
    before = _snapshot(out / "slow")
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
    assert any(p.name.startswith(".slow.staging-") for p in out.iterdir())
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err and f"fpjax: {word}" in err
    assert _snapshot(out / "slow") == before  # config, metrics and figure of the seed-1 run, untouched
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "slow"]  # staging folder removed


@pytest.mark.slow
def test_sigint_at_20_random_moments_exits_130_and_keeps_the_results(tmp_path):
    """Ctrl-C anywhere in a short real run — importing JAX, tracing, compiling, running, writing —
    exits 130 with one line, no traceback, no "Exception ignored", no crash, and leaves no staging
    folder and one complete set of results: the previous one, or this run's where the signal came
    after its results were in place."""
    out = tmp_path / "results"
    argv = [str(Path(sys.executable).with_name("fpjax")), "run", "fp-1d", "--out", str(out)]
    argv += ["--set", "steps=60", "--set", "record_every=20", "--set", "n_seeds=2", "--set", "widths=[16, 16]"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, preexec_fn=_default_sigint)
    duration = time.monotonic() - t0
    assert first.returncode == 0, first.stderr[-3000:]
    before = _snapshot(out / "fp-1d")
    rng = np.random.default_rng(0)
    interrupted = 0
    for fraction in rng.uniform(0.02, 0.95, size=20):
        # a moment within the shortest complete run seen so far (the load of the machine varies)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_default_sigint)  # fmt: skip
        t0 = time.monotonic()
        time.sleep(fraction * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:  # finished before the signal: a complete run of the same settings
            duration = min(duration, time.monotonic() - t0)
            before = _snapshot(out / "fp-1d")
            continue
        interrupted += 1
        assert "Traceback" not in err and "Exception ignored" not in err, (fraction, err[-3000:])
        if proc.returncode == -signal.SIGINT:
            # Ended by the signal itself (a shell shows status 130): only in the interpreter's last
            # moments, after the run was complete, when Python has put back the default handlers
            # (measured: from ~0.99 of a run's duration on). Its results must be in place.
            assert _snapshot(out / "fp-1d") != before, (fraction, "killed by SIGINT before its results were in place")
        else:
            assert proc.returncode == 130, (fraction, proc.returncode, err[-3000:])
            assert err.strip().splitlines()[-1].startswith("fpjax: interrupted"), (fraction, err[-3000:])
        after = _snapshot(out / "fp-1d")
        if after != before:
            # The signal came after this run's results replaced the old ones in one rename (while the
            # report was written or the process ended): then the folder is this run's complete set.
            assert after.keys() == before.keys(), (fraction, sorted(after))
            old_cfg, new_cfg = (json.loads(s["config.json"]) for s in (before, after))
            assert new_cfg["config"] == old_cfg["config"] and new_cfg["started"] >= old_cfg["started"], fraction
            assert json.loads(after["metrics.json"])["claims"], fraction
            before = after
        assert sorted(p.name for p in out.iterdir()) == ["fp-1d", "index.html"], fraction
    assert interrupted >= 10  # most moments fall inside a run


def test_ctrl_c_before_signal_handling_starts_exits_130_with_one_line(monkeypatch, capsys):
    """A KeyboardInterrupt while the command line is still being imported (before ExitOnSignals is
    active) ends the console script like a later Ctrl-C: status 130 and one line, no traceback."""
    from fpjax import _console

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", interrupted)
    assert _console.run() == 130
    assert capsys.readouterr().err.strip().startswith("fpjax: interrupted")
