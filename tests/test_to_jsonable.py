"""to_jsonable gives plain Python types for numpy scalars, float64 included (a float subclass)."""

import json

import numpy as np

from fpjax.experiment import claim, to_jsonable


def test_float64_becomes_plain_float():
    out = to_jsonable({"a": np.float64(0.1), "b": [np.float64(2.5)], "c": np.float64(np.nan)})
    assert type(out["a"]) is float and out["a"] == 0.1
    assert type(out["b"][0]) is float
    assert out["c"] == "nan"
    assert json.loads(json.dumps(out)) == out


def test_claim_evidence_is_plain():
    c = claim("the error fell", np.float64(0.1) < 0.5, {"error": np.float64(0.1)})
    assert type(c["evidence"]["error"]) is float
    assert repr(c["evidence"]) == "{'error': 0.1}"
