"""The frozen, typed settings object that ``run(config, out_dir)`` receives."""

import copy
import json
import pickle

import pytest

from fpjax.experiment import Config, Experiment, MalformedExperimentError, claim, run_experiment

QUICK = {
    "steps": 10,
    "learning_rate": 0.1,
    "widths": [64, 32],
    "rates": [0.5, 1.0],
    "flag": False,
    "model_options": {"cnn": {"widths": [8, 16]}},
    "n_test": None,
}


def _run(config, out_dir):
    return {"claims": [claim("the config is frozen", isinstance(config, Config), {"steps": config.steps})]}


EXP = Experiment(
    name="cfg-toy",
    description="d",
    claim="c",
    source="s",
    quick=QUICK,
    full=dict(QUICK, steps=100, n_test=5),
    run=_run,
)


def test_values_have_the_declared_types():
    cfg = EXP.config("quick", {"learning_rate": 1, "rates": [2, 0.5], "n_test": 7}, seed=3)
    assert cfg.steps == 10 and type(cfg.steps) is int
    # an int given for a number is a float; elementwise in lists
    assert cfg.learning_rate == 1.0 and type(cfg.learning_rate) is float
    assert cfg.rates == (2.0, 0.5) and all(type(r) is float for r in cfg.rates)
    assert cfg.widths == (64, 32) and type(cfg.widths) is tuple
    assert cfg.flag is False and cfg.n_test == 7 and cfg.seed == 3
    assert cfg.model_options["cnn"]["widths"] == (8, 16)
    with pytest.raises(TypeError):
        cfg.model_options["cnn"]["widths"] = (1,)  # nested mappings are read-only too
    with pytest.raises(TypeError):
        cfg.model_options["other"] = {}


def test_config_is_frozen():
    cfg = EXP.config("quick")
    for name in ("steps", "seed", "new_setting", "_values"):
        with pytest.raises(AttributeError, match="read-only"):
            setattr(cfg, name, 1)
    with pytest.raises(AttributeError, match="read-only"):
        del cfg.steps
    with pytest.raises(TypeError):
        cfg["steps"] = 1  # noqa - the mapping view is read-only as well
    changed = cfg.replace(steps=5)
    assert changed.steps == 5 and cfg.steps == 10 and changed.learning_rate == cfg.learning_rate
    with pytest.raises(AttributeError, match="no setting 'stesp'.*did you mean 'steps'"):
        cfg.replace(stesp=5)


def test_unknown_setting_names_it_and_the_closest():
    cfg = EXP.config("quick")
    with pytest.raises(
        AttributeError, match=r"experiment 'cfg-toy' has no setting 'learning_rte' \(did you mean 'learning_rate'\?\)"
    ):
        cfg.learning_rte  # noqa: B018 (the attribute access is what raises)
    with pytest.raises(KeyError, match="no setting 'widht'.*did you mean 'widths'"):
        cfg["widht"]
    assert not hasattr(cfg, "unrelated")
    assert getattr(cfg, "unrelated", "default") == "default"


def test_mapping_view_is_the_json_record():
    cfg = EXP.config("full", seed=1)
    record = json.loads(json.dumps({**QUICK, "steps": 100, "n_test": 5, "seed": 1}))
    assert dict(cfg) == record == cfg.to_dict() and cfg == record
    assert cfg["widths"] == [64, 32] and cfg["widths"] is not cfg["widths"]  # a new list each time
    cfg["widths"].append(1)
    assert cfg.widths == (64, 32)
    assert list(cfg) == [*QUICK, "seed"] and len(cfg) == len(QUICK) + 1
    assert "steps" in cfg and cfg.get("nope") is None
    assert json.loads(json.dumps(cfg.to_dict())) == record
    assert repr(cfg).startswith("Config(steps=100, learning_rate=0.1, widths=[64, 32]")


def test_config_copies_and_pickles():
    cfg = EXP.config("quick", seed=2)
    for other in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg), copy.copy(cfg)):
        assert isinstance(other, Config) and other == cfg and other.widths == (64, 32)


def test_run_receives_the_config(tmp_path):
    metrics = run_experiment(EXP, out_root=tmp_path, overrides={"steps": 3})
    assert metrics["claims"][0]["held"] and metrics["claims"][0]["evidence"] == {"steps": 3}
    written = json.loads((tmp_path / "cfg-toy" / "config.json").read_text())
    assert written["config"] == dict(QUICK, steps=3, seed=0)


@pytest.mark.parametrize("name", ["keys", "replace", "to_dict", "get", "items", "_private", "has-dash"])
def test_settings_must_be_attribute_names(name):
    with pytest.raises(MalformedExperimentError, match="identifier"):
        Experiment(name="x", description="d", claim="c", source="s", quick={name: 1}, full={name: 1}, run=_run)


def test_config_checks_its_input():
    with pytest.raises(TypeError, match="mapping"):
        Config([("steps", 1)])
