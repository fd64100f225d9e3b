"""The reproduction ledger: docs/ledger.md is in sync with ledger/, and importing a run gives the
expected record (a synthetic metrics.json in the format `fpjax run` writes)."""

from __future__ import annotations

import json
import shutil
import statistics

import pytest

from fpjax import cli
from fpjax._src import ledger

MACHINE = {"cpu": "Test CPU", "cores": 2}


def test_page_is_in_sync_with_the_ledger_files():
    """Regenerated in memory from ledger/<scale>/*.json, the page equals the committed docs/ledger.md
    (run `fpjax ledger` after adding or changing a result file or an experiment)."""
    assert ledger.PAGE.is_file(), "docs/ledger.md is missing; run `fpjax ledger`"
    assert ledger.build_page() == ledger.PAGE.read_text(encoding="utf-8"), "docs/ledger.md is stale; run `fpjax ledger`"


def test_committed_records_are_valid_and_small():
    recs = ledger.load_ledger()
    for name, by_scale in recs.items():
        for scale, rec in by_scale.items():
            path = ledger.LEDGER_DIR / scale / f"{name}.json"
            assert path.stat().st_size < 200_000, path
            assert rec["held"] == sum(c["held"] for c in rec["claims"]) and rec["total"] == len(rec["claims"])


def _write_run(root, name="toy-exp", setting="quick", config=None, claims=None, runtime=12.5):
    run = root / name
    run.mkdir(parents=True)
    per_seed = [[1.0, 2.0], [3.0, 6.0], [2.0, 4.0]]
    claims = claims or [
        {
            "claim": "errors fall | in <order>",
            "held": True,
            "evidence": {
                "ratio": 0.123456789,
                "ok": True,
                "label": "x",
                "curve": [float(i) for i in range(20)],
                "final_per_seed": [0.5, 0.7, 0.9],
                "steps_per_seed": per_seed,
                "nested": {"a": [1, 2, 3], "nan_value": "nan"},
            },
        },
        {"claim": "the second claim", "held": False, "evidence": {"gap": 3.0}},
    ]
    (run / "metrics.json").write_text(json.dumps({"claims": claims, "runtime_s": runtime, "other": [1, 2]}))
    cfg = {
        "experiment": name,
        "setting": setting,
        "config": config or {"n": 3, "seed": 0},
        "description": "a toy",
        "claim": "toys work",
        "source": "A. Author, arXiv:0000.00000, Fig. 1",
        "started": "2026-01-01T00:00:00+0000",
        "platform": {"python": "3.11.7", "fpjax": "0.1", "jax": "0.10.2", "backend": "cpu", "devices": 1},
    }
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def test_import_produces_the_expected_record(tmp_path):
    _write_run(tmp_path / "results")
    written = ledger.import_results(tmp_path / "results", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    assert [p.name for p in written] == ["toy-exp.json"] and written[0].parent.name == "quick"
    rec = ledger.read_record(written[0])
    assert rec["experiment"] == "toy-exp" and rec["scale"] == "quick" and rec["setting"] == "quick"
    assert (rec["held"], rec["total"], rec["runtime_s"]) == (1, 2, 12.5)
    assert rec["machine"] == MACHINE
    assert rec["versions"] == {"fpjax": "0.1", "jax": "0.10.2", "python": "3.11.7"}
    assert rec["source"] == "A. Author, arXiv:0000.00000, Fig. 1" and rec["settings"] == {"n": 3, "seed": 0}
    first, second = rec["claims"]
    assert first["claim"] == "errors fall | in <order>" and first["held"] is True
    nums = first["numbers"]
    assert nums["ratio"] == 0.1235 and nums["ok"] is True and nums["label"] == "x"
    # 20 numbers: summarised (count, extremes, median, mean, sample sd)
    xs = [float(i) for i in range(20)]
    assert nums["curve"] == {
        "summary": {
            "n": 20,
            "min": 0.0,
            "median": 9.5,
            "max": 19.0,
            "mean": 9.5,
            "sd": float(f"{statistics.stdev(xs):.4g}"),
        }
    }
    # per-seed values keep the values and add the spread over seeds (axis 0)
    assert nums["final_per_seed"] == {"values": [0.5, 0.7, 0.9], "over_seeds": {"mean": 0.7, "sd": 0.2}}
    assert nums["steps_per_seed"]["over_seeds"] == {"mean": [2.0, 4.0], "sd": [1.0, 2.0]}
    assert nums["nested"] == {"a": [1, 2, 3], "nan_value": "nan"}
    assert second == {"claim": "the second claim", "held": False, "numbers": {"gap": 3.0}}
    assert "other" not in json.dumps(rec)  # only claims, settings and run facts are kept


def test_page_lists_claims_per_scale_and_escapes_text(tmp_path):
    _write_run(tmp_path / "results")
    ledger.import_results(tmp_path / "results", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    page = ledger.render_page(ledger.load_ledger(tmp_path / "ledger"), {"toy-exp": "a toy", "other-exp": "b"})
    assert "| 1 | errors fall \\| in &lt;order&gt; | ✅ held | not run | not run |" in page
    assert "| 2 | the second claim | ❌ not held | not run | not run |" in page
    assert "| [toy-exp](#ledger-toy-exp) | 1 of 2 held | not yet run | not yet run |" in page
    assert "## other-exp {#ledger-other-exp}" in page and "Not yet run at any scale." in page
    assert "<order>" not in page
    failed = page.split("## Claims that did not hold")[1].split("## Verdicts that changed")[0]
    assert "the second claim" in failed and "errors fall" not in failed
    assert "No claim has different verdicts" in page
    assert "Test CPU, 2 cores" in page


def test_verdict_changes_between_scales_are_listed(tmp_path):
    _write_run(tmp_path / "quick")
    flipped = [{"claim": "the second claim", "held": True, "evidence": {"gap": 0.5}}]
    _write_run(tmp_path / "cpu", claims=flipped, config={"n": 30, "seed": 0})
    ledger.import_results(tmp_path / "quick", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    ledger.import_results(tmp_path / "cpu", "cpu", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    page = ledger.render_page(ledger.load_ledger(tmp_path / "ledger"))
    changed = page.split("## Verdicts that changed between scales")[1].split("\n## ")[0]
    assert "| the second claim | ❌ not held | ✅ held | not run |" in changed
    assert "errors fall" not in changed  # only at quick: nothing to compare
    assert "| 1 | errors fall \\| in &lt;order&gt; | ✅ held | — | not run |" in page


def test_records_from_another_experiment_or_scale_are_refused(tmp_path):
    _write_run(tmp_path / "results")
    (src,) = ledger.import_results(tmp_path / "results", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    wrong_scale = tmp_path / "ledger" / "cpu" / "toy-exp.json"
    wrong_scale.parent.mkdir()
    shutil.copy(src, wrong_scale)
    with pytest.raises(ValueError, match="scale 'quick', not 'cpu': refused"):
        ledger.load_ledger(tmp_path / "ledger")
    wrong_scale.unlink()
    shutil.copy(src, src.with_name("other-exp.json"))
    with pytest.raises(ValueError, match="experiment 'toy-exp', not 'other-exp': refused"):
        ledger.load_ledger(tmp_path / "ledger")
    src.with_name("other-exp.json").unlink()
    (tmp_path / "ledger" / "medium").mkdir()
    with pytest.raises(ValueError, match="not a scale folder"):
        ledger.load_ledger(tmp_path / "ledger")


def test_import_refuses_mismatched_runs(tmp_path):
    run = _write_run(tmp_path / "a")
    cfg = json.loads((run / "config.json").read_text())
    cfg["experiment"] = "someone-else"
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="is of experiment 'someone-else'"):
        ledger.import_results(tmp_path / "a", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    _write_run(tmp_path / "b", setting="full")
    with pytest.raises(ValueError, match="must come from a --quick run"):
        ledger.import_results(tmp_path / "b", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    # a declared experiment with an overridden setting is not the quick scale
    _write_run(tmp_path / "c", name="fp-1d", config={"n_points": 31, "seed": 0})
    with pytest.raises(ValueError, match="import it with --scale cpu"):
        ledger.import_results(tmp_path / "c", "quick", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    (rec_path,) = ledger.import_results(tmp_path / "c", "cpu", ledger_dir=tmp_path / "ledger", machine=MACHINE)
    assert ledger.read_record(rec_path)["overrides"] == {"n_points": 31}
    with pytest.raises(ValueError, match="scale must be one of"):
        ledger.import_results(tmp_path / "c", "medium", ledger_dir=tmp_path / "ledger")
    bad = _write_run(tmp_path / "d")
    (bad / "metrics.json").write_text('{"claims": [{"claim": "x", "held": NaN}]}')
    with pytest.raises(ValueError, match="not valid JSON"):
        ledger.import_results(tmp_path / "d", "quick", ledger_dir=tmp_path / "ledger")


def test_command_line_imports_writes_and_checks(tmp_path, capsys):
    _write_run(tmp_path / "results")
    led, page = str(tmp_path / "ledger"), str(tmp_path / "ledger.md")
    args = ["--ledger-dir", led, "--page", page]
    assert cli.main(["ledger", *args, "--check"]) == 1  # no page yet
    assert cli.main(["ledger", "--import", str(tmp_path / "results"), "--scale", "quick", *args]) == 0
    assert cli.main(["ledger", *args, "--check"]) == 0
    text = (tmp_path / "ledger.md").read_text(encoding="utf-8")
    assert "toy-exp" in text and text.startswith("# Reproduction ledger")
    assert cli.main(["ledger", "--import", str(tmp_path / "results"), *args]) == 2
    assert "--import needs --scale" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# sensitivity studies


def _fake_study():
    from fpjax._src import ledger_sensitivity as sens

    return sens.Study(
        experiment="toy-exp",
        base={"n": 3},
        axes=(sens.Axis("k", "the knob k", tuple((k, {"k": k}) for k in (1, 2, 4, 8)), log=True),),
        claims=(
            sens.StudiedClaim("the gap closes", "stats/gap", "the gap", 1.0, "one", "held when the gap < 1"),
            sens.StudiedClaim("ratio", lambda ev: ev["a"] / ev["b"], "a / b", "limit", "the limit", "a/b < limit"),
        ),
        finding="holds from k = 4 on",
        differences="the source uses k = 100",
    )


def _fake_point(root, pid, gap, held, runtime=1.0):
    run = root / "toy-exp" / pid / "toy-exp"
    run.mkdir(parents=True)
    claims = [
        {"claim": "[k] the gap closes", "held": held, "evidence": {"stats": {"gap": gap}}},
        {"claim": "a ratio", "held": True, "evidence": {"a": 1.0, "b": 4.0, "limit": 0.5}},
    ]
    (run / "metrics.json").write_text(json.dumps({"claims": claims, "runtime_s": runtime}))


def test_sensitivity_study_is_distilled_drawn_and_rendered(tmp_path, monkeypatch):
    from fpjax._src import ledger_sensitivity as sens

    study = _fake_study()
    assert sens.study_points(study, quick={"n": 5, "k": 1}) == {
        "base": {"n": 3},
        "k=2": {"n": 3, "k": 2},
        "k=4": {"n": 3, "k": 4},
        "k=8": {"n": 3, "k": 8},
    }
    monkeypatch.setattr(sens, "_quick_settings", lambda name: {"n": 5, "k": 1})
    results = tmp_path / "results"
    _fake_point(results, "base", 3.0, False)
    _fake_point(results, "k=2", 1.5, False)
    _fake_point(results, "k=4", 0.5, True)  # k = 8 not run
    path = sens.distil(study, results_dir=results, out_dir=tmp_path / "ledger" / "sensitivity", ledger_dir=tmp_path)
    rec = sens.read_study(path)
    pts = rec["axes"][0]["points"]
    assert [p["x"] for p in pts] == [1, 2, 4, 8] and pts[3]["status"] == "not run"
    assert pts[0]["claims"][0] == {"claim": "[k] the gap closes", "held": False, "value": 3.0, "threshold": 1.0}
    assert pts[2]["claims"][1] == {"claim": "a ratio", "held": True, "value": 0.25, "threshold": 0.5}
    assert sens.holds_at(rec, 0, 0) == [4] and sens.holds_at(rec, 1, 0) == [1, 2, 4]
    # a ledger cpu record with exactly the point's overrides stands for it (k = 8)
    metrics = {"claims": [{"claim": "the gap closes", "held": True, "evidence": {"stats": {"gap": 0.25}}}]}
    config = {"experiment": "toy-exp", "setting": "quick", "config": {"n": 3, "k": 8, "seed": 0}}
    cpu = ledger.record_from_run(metrics, config, scale="cpu", defaults={"n": 5, "k": 1}, machine=MACHINE)
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "toy-exp.json").write_text(json.dumps(cpu))
    assert sens.study_points(study, quick={"n": 5, "k": 1})["k=8"] == cpu["overrides"]
    path = sens.distil(study, results_dir=results, out_dir=tmp_path / "ledger" / "sensitivity", ledger_dir=tmp_path)
    rec = sens.read_study(path)
    last = rec["axes"][0]["points"][3]
    assert last["source"] == "ledger cpu record" and last["claims"][0]["value"] == 0.25
    assert last["claims"][1]["held"] is None  # the record does not report the ratio claim
    assert sens.holds_at(rec, 0, 0) == [4, 8]
    fig = sens.draw(rec, tmp_path / "docs" / "ledger" / "toy-exp-sensitivity.png")
    assert 0 < fig.stat().st_size < 200_000
    monkeypatch.setitem(sens.STUDIES, "toy-exp", study)
    page = ledger.render_page({}, {"toy-exp": "a toy"}, {"toy-exp": rec})
    section = page.split("### Sensitivity {#sensitivity-toy-exp}")[1]
    assert "![toy-exp sensitivity](ledger/toy-exp-sensitivity.png)" in section
    assert "| k | 4 | ✅ held (0.5 vs 1.0) | ✅ held (0.25 vs 0.5) |" in section
    assert "| k | 8 (ledger cpu record) | ✅ held (0.25 vs 1.0) | — (claim not reported) |" in section
    assert "**Finding:** holds from k = 4 on" in section and "the source uses k = 100" in section
    overview = page.split("## Sensitivity studies")[1].split("\n## ")[0]
    assert "| the gap closes… | k | 1, 2, 4, 8 | 4, 8 |" in overview


def test_sensitivity_command_line_distils_and_checks(tmp_path, monkeypatch, capsys):
    from fpjax._src import ledger_sensitivity as sens

    monkeypatch.setitem(sens.STUDIES, "toy-exp", _fake_study())
    monkeypatch.setattr(sens, "_quick_settings", lambda name: {"n": 5, "k": 1})
    _fake_point(tmp_path / "results", "k=2", 0.5, True)
    led, page = tmp_path / "ledger", tmp_path / "docs" / "ledger.md"
    args = ["--ledger-dir", str(led), "--page", str(page)]
    argv = ["ledger", "--sensitivity", "toy-exp", "--no-run", "--runs-dir", str(tmp_path / "results"), *args]
    assert cli.main(argv) == 0
    assert (led / "sensitivity" / "toy-exp.json").is_file()
    assert (tmp_path / "docs" / "ledger" / "toy-exp-sensitivity.png").is_file()
    assert cli.main(["ledger", *args, "--check"]) == 0
    (tmp_path / "docs" / "ledger" / "toy-exp-sensitivity.png").unlink()
    assert cli.main(["ledger", *args, "--check"]) == 1  # the figure is part of the page
    assert cli.main(["ledger", "--sensitivity", "no-such", *args]) == 2
    assert "no study of 'no-such'" in capsys.readouterr().err


def test_committed_sensitivity_studies_match_the_table():
    from fpjax._src import ledger_sensitivity as sens

    for name, rec in sens.load_studies().items():
        study = sens.STUDIES[name]
        assert [[p["x"] for p in a["points"]] for a in rec["axes"]] == [[x for x, _ in a.points] for a in study.axes]
        assert [c["match"] for c in rec["claims"]] == [c.match for c in study.claims]
        fig = ledger.PAGE.parent / "ledger" / f"{name}-sensitivity.png"
        assert fig.is_file() and fig.stat().st_size < 200_000, fig


def test_studied_claim_reads_numbers_of_another_claim_and_survives_missing_ones():
    from fpjax._src import ledger_sensitivity as sens

    c = sens.StudiedClaim("second", "gap", "gap", 0.0, "0", "held when gap > 0", numbers_from="first")
    missing = sens.StudiedClaim("first", lambda ev: ev["absent"], "x", "nope/0", "y", "rule")
    study = sens.Study("toy", {}, (), (c, missing), "", "")
    claims = [
        {"claim": "the first", "held": False, "evidence": {"gap": -2.0}},
        {"claim": "the second", "held": True, "evidence": {}},
    ]
    first, second = sens.point_result(study, claims)
    assert first == {"claim": "the second", "held": True, "value": -2.0, "threshold": 0.0}
    assert second == {"claim": "the first", "held": False, "value": None, "threshold": None}
    assert sens.point_result(study, [])[0]["held"] is None  # a claim the run does not report
