"""One name per concept: retired spellings never come back into the public API or the experiments.

Each synonym group maps the spellings fpjax used to have for one concept onto the one name it uses
now (docs/conventions.md). The checks read every public signature and every public result record
(NamedTuple fields) of the modules the conventions test covers, and every experiment's declared
settings. ``PENDING`` lists the places not renamed yet, each with its replacement: it may only
shrink (a test fails if an entry there is already clean), so no new use of a retired spelling can
land.
"""

from __future__ import annotations

import inspect
import re

import pytest
from test_conventions import PUBLIC

# retired spelling -> the one name for the concept
SYNONYMS = {
    # Lanczos steps
    "n_iter": "num_iters",
    "lanczos_steps": "num_iters",
    "lanczos_iters": "num_iters",
    "hessian_iters": "num_iters",
    "density_iters": "num_iters",
    # random probes of a trace estimator
    "n_probes": "num_probes",
    # how many items one vectorised block holds
    "batch": "batch_size",
    "block_size": "batch_size",
    "chunk": "batch_size",
    "chunk_freqs": "batch_size",
    "chunk_points": "batch_size",
    # optimizer step size
    "lr": "learning_rate",
    "lrs": "learning_rates",
    # the network function: a Model is callable, so one name covers both
    "model_or_apply": "apply",
    # standard errors
    "trace_se": "standard_error",
    "stderr": "standard_error",
}
# Training functions take their data as x_train, y_train (as fpjax.ntk.predict_* and neural-tangents).
TRAINING_FUNCTIONS = {("train", "fit"), ("train", "gradient_flow"), ("cnn", "train_cnn")}

# (where, name) -> replacement, for places not renamed yet. May only shrink.
PENDING: dict[tuple[str, str], str] = {}


def _names_of(obj) -> list[str]:
    if inspect.isfunction(obj):
        return list(inspect.signature(obj).parameters)
    if isinstance(obj, type) and hasattr(obj, "_fields"):
        return list(obj._fields)
    return []


def _retired_in_api():
    for m, name, obj in PUBLIC:
        for p in _names_of(obj):
            if p in SYNONYMS:
                yield (f"{m}.{name}", p)


CANONICAL = set(SYNONYMS.values()) | {"chunk_size"}  # chunk_size: the checkpoint unit of fpjax.train.sweep


def _setting_tokens(key: str) -> list[str]:
    """A settings key and its underscore-joined parts (``pretrain_lr`` -> also ``lr``), after the
    canonical names in it are taken out (``density_num_iters`` holds no retired spelling)."""
    rest = key
    for name in sorted(CANONICAL, key=len, reverse=True):
        rest = rest.replace(name, " ")
    parts = [p for p in rest.replace(" ", "_").split("_") if p]
    return ["_".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]


def _retired_in_settings():
    from fpjax._src import experiment_registry

    for name, exp in sorted(experiment_registry.declarations().items()):
        for scale in ("quick", "full"):
            for key in getattr(exp, scale) or {}:
                for tok in _setting_tokens(key):
                    if tok in SYNONYMS:
                        yield (f"experiment {name}", key)
                        break


def test_no_retired_spelling_in_the_public_api():
    bad = [f"{where} has {p!r}: use {SYNONYMS[p]!r}" for where, p in _retired_in_api() if (where, p) not in PENDING]
    assert not bad, "\n".join(bad)


def test_no_retired_spelling_in_experiment_settings():
    found = sorted(set(_retired_in_settings()) - set(PENDING))
    assert not found, "\n".join(f"{where}: setting {k!r} uses a retired spelling" for where, k in found)


def test_pending_renames_are_still_pending():
    found = set(_retired_in_api()) | set(_retired_in_settings()) | set(_meaning_violations())
    stale = [k for k in PENDING if k not in found]
    assert not stale, f"already renamed, remove from PENDING: {stale}"


@pytest.mark.parametrize(("m", "name"), sorted(TRAINING_FUNCTIONS))
def test_training_functions_take_x_train_y_train(m, name):
    fn = dict(((mm, n), o) for mm, n, o in PUBLIC)[(m, name)]
    params = list(inspect.signature(fn).parameters)
    assert "x_train" in params and "y_train" in params, (name, params)
    assert "x" not in params and "y" not in params, (name, params)


def _arg_doc(fn, arg: str) -> str | None:
    """The ``Args:`` entry of ``arg`` in ``fn``'s docstring (also ``a, arg: ...`` entries)."""
    doc = inspect.getdoc(fn) or ""
    m = re.search(rf"^\s*(?:[\w*]+,\s*)*{arg}(?:,\s*[\w*]+)*\s*:(.*)$", doc, flags=re.M)
    return m.group(1) if m else None


def _meaning_violations():
    """``(where, name)`` of public functions whose ``t`` is not documented as a time, or whose ``k``
    is documented as a frequency index or a number of standard errors rather than a count."""
    for m, name, obj in PUBLIC:
        if not inspect.isfunction(obj):
            continue
        params = inspect.signature(obj).parameters
        if "t" in params and "time" not in (_arg_doc(obj, "t") or "").lower():
            yield (f"{m}.{name}", "t")
        if "k" in params and any(
            w in (_arg_doc(obj, "k") or "").lower() for w in ("frequen", "index", "standard error", "cycles")
        ):
            yield (f"{m}.{name}", "k")


def test_t_is_time_and_k_is_a_count():
    """``t`` is gradient-flow time only; ``k`` is a number of things only."""
    bad = sorted(set(_meaning_violations()) - set(PENDING))
    assert not bad, "\n".join(f"{where}: {p!r} has another meaning; use {p!r} for one concept only" for where, p in bad)


def test_the_vocabulary_check_can_fail():
    def f(x_train, y_train, *, n_iter=3):
        """Args:
        t: the cosine."""

    assert [p for p in _names_of(f) if p in SYNONYMS] == ["n_iter"]
    assert "lr" in _setting_tokens("pretrain_lr") and "lrs" in _setting_tokens("lrs")
    assert not set(_setting_tokens("density_num_iters")) & set(SYNONYMS)
    assert not set(_setting_tokens("batch_size")) & set(SYNONYMS)
