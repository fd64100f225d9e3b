"""Mechanical checks of docs/conventions.md over every public module's ``__all__``."""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = [
    "models",
    "train",
    "spectrum",
    "ntk",
    "hessian",
    "landscape",
    "sphere",
    "testing",
    "experiment",
    "distributed",
    "cnn",
    "data",
    "theory.lfp",
    "theory.fpnorm",
    "theory.init_bias",
    "theory.tangent_fourier",
]
BANNED = {"h0", "h_ini", "h_ini_train", "r0", "k_xx", "gamma2_", "times", "X"}

# Allow-lists: (module, name) -> why the rule does not apply.
SAME_NAME_OK: dict[str, str] = {
    # (empty: every public name has one meaning; see CHANGELOG.md for the renames)
}
RETURN_OK = {
    ("spectrum", "conv_kernels"): "a mapping layer path -> kernel (variable keys), not a record",
    ("spectrum", "conv_layer_high_freq_energy"): "a mapping layer path -> energy (variable keys)",
    ("cnn", "spatial_kernels"): "a mapping layer path -> kernel (variable keys)",
    ("cnn", "cnn_variables"): "the flax variables {'params', 'batch_stats'} that CNN.apply takes, not a record",
    ("experiment", "claim"): "the JSON record written to metrics.json (see fpjax.experiment.Claim)",
}
BANNED_OK = {
    ("spectrum", "plot_convergence_times", "times"): "a ConvergenceTimes result, not gradient-flow time",
}
SPEC_OK = {"docs/hooks.py": "the filter that strips such citations from rendered docstrings"}


def _public():
    for m in MODULES:
        mod = importlib.import_module(f"fpjax.{m}")
        for name in mod.__all__:
            yield m, name, getattr(mod, name)


PUBLIC = list(_public())
FUNCS = [(m, n, o) for m, n, o in PUBLIC if inspect.isfunction(o)]


def test_every_all_name_exists_and_modules_are_listed():
    import fpjax

    for sub in ("testing", "landscape", "sphere", "experiment", "distributed"):
        assert sub in fpjax._SUBMODULES, sub
    assert len(PUBLIC) > 200


def test_no_public_name_bound_to_two_objects():
    seen: dict[str, tuple[str, object]] = {}
    bad = []
    for m, name, obj in PUBLIC:
        if name in seen and seen[name][1] is not obj and name not in SAME_NAME_OK:
            bad.append(f"{name}: fpjax.{seen[name][0]} and fpjax.{m}")
        seen.setdefault(name, (m, obj))
    assert not bad, bad


@pytest.mark.parametrize(("m", "name", "fn"), FUNCS, ids=[f"{m}.{n}" for m, n, _ in FUNCS])
def test_key_is_keyword_only(m, name, fn):
    p = inspect.signature(fn).parameters.get("key")
    if p is not None:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"fpjax.{m}.{name}: key must be keyword-only"


def _bad_return(ann) -> bool:
    if ann is dict or ann is tuple:
        return True
    origin = typing.get_origin(ann)
    if origin is dict:
        return True
    if origin is tuple:
        args = typing.get_args(ann)
        return not (len(args) == 2 and args[1] is Ellipsis)  # tuple[X, ...] is a collection
    return False


@pytest.mark.parametrize(("m", "name", "fn"), FUNCS, ids=[f"{m}.{n}" for m, n, _ in FUNCS])
def test_no_dict_or_bare_tuple_return(m, name, fn):
    try:
        ann = typing.get_type_hints(fn).get("return")
    except Exception:  # noqa: BLE001 - annotations naming objects not importable at runtime: read the string
        ann = inspect.signature(fn).return_annotation
        if isinstance(ann, str):
            ann = (
                {"dict": dict, "tuple": tuple}.get(ann.split("[")[0], None)
                if re.match(r"(dict|tuple)\b", ann) and not ann.endswith(", ...]")
                else None
            )
    if (m, name) in RETURN_OK:
        return
    assert not _bad_return(ann), f"fpjax.{m}.{name} returns {ann}: use a NamedTuple"


def test_results_are_namedtuples_or_dataclasses():
    import dataclasses

    bad = [
        f"{m}.{n}"
        for m, n, o in PUBLIC
        if inspect.isclass(o)
        and n[0].isupper()
        and not issubclass(o, BaseException)
        and not (issubclass(o, tuple) and hasattr(o, "_fields"))
        and not dataclasses.is_dataclass(o)
    ]
    # Model/CNN/Experiment are objects with behaviour, not results; Config is an experiment's frozen
    # settings (a read-only mapping with attribute access).
    allowed = {
        "models.Model",
        "cnn.CNN",
        "experiment.Experiment",
        "experiment.Config",
        "hessian.BatchedLoss",
        "hessian.ModelLoss",
        "hessian.LayerCurvature",
        "train.SweepResult",
    }
    assert not [b for b in bad if b not in allowed], bad


@pytest.mark.parametrize(("m", "name", "fn"), FUNCS, ids=[f"{m}.{n}" for m, n, _ in FUNCS])
def test_no_banned_synonyms_in_signatures(m, name, fn):
    for p in inspect.signature(fn).parameters:
        if p in BANNED:
            assert (m, name, p) in BANNED_OK, f"fpjax.{m}.{name} has parameter {p!r} (see docs/conventions.md)"


def test_no_spec_citations():
    hits = []
    for top in ("fpjax", "experiments", "docs", "notebooks"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in {".py", ".md", ".ipynb", ".txt", ".json", ".yml", ".html"} or not path.is_file():
                continue
            rel = path.relative_to(ROOT).as_posix()
            if rel in SPEC_OK:
                continue
            if re.search(r"\bSPEC\b", path.read_text(encoding="utf-8", errors="replace")):
                hits.append(rel)
    assert not hits, hits


# ---- array arguments are typed (ArrayLike / jax.Array / jaxtyping), never ``Any`` or unannotated

# Names of docs/conventions.md's table that are not arrays, pytrees or keys.
NOT_ARRAY_NAMES = {"learning_rate", "steps", "model", "apply", "f0", "k", "rcond"}
# Array names in use that the table does not list (points of a kernel, targets, ...).
MORE_ARRAY_NAMES = {"y", "y_test", "x1", "x2", "values", "coeffs"}
# Excluded from the check (none left: every public function is typed).
UNTYPED_OK: dict = {}


def _array_names() -> set[str]:
    """Every backticked name in the name column of docs/conventions.md's table, minus the non-arrays."""
    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    names = set()
    for line in text.splitlines():
        cols = line.split("|")
        if line.startswith("| ") and len(cols) > 3:
            names.update(re.findall(r"`([a-z_][a-z0-9_]*)`", cols[2]))
    assert {"x_train", "k_train_train", "f0_test", "t", "freqs", "key", "params"} <= names, names
    return (names - NOT_ARRAY_NAMES) | MORE_ARRAY_NAMES


ARRAY_NAMES = _array_names()


def _callables():
    """Public functions, and the public methods of public classes defined in fpjax."""
    for m, name, obj in PUBLIC:
        if inspect.isfunction(obj):
            yield m, name, obj
        elif inspect.isclass(obj) and obj.__module__.startswith("fpjax"):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and (not attr.startswith("_") or attr in ("__init__", "__call__")):
                    yield m, f"{name}.{attr}", member


CALLABLES = list(_callables())


def _untyped(fn, param: str) -> bool:
    ann = inspect.signature(fn).parameters[param].annotation
    if ann is inspect.Parameter.empty:
        return True
    if isinstance(ann, str):  # ``from __future__ import annotations``: the source text
        if re.fullmatch(r"\s*(typing\.)?Any(\s*\|\s*None)?\s*|Optional\[Any\]", ann):
            return True
    elif ann is typing.Any:
        return True
    try:  # an alias that resolves to Any (``Params = Any``) hides the type too
        return typing.get_type_hints(fn).get(param) is typing.Any
    except Exception:  # noqa: BLE001 - names importable only for type checkers: the text was checked
        return False


def test_array_names_come_from_the_conventions():
    assert {"x", "x_train", "y_train", "x_test", "f0_train", "k_test_train", "t", "freqs", "gamma2"} <= ARRAY_NAMES
    assert not ARRAY_NAMES & NOT_ARRAY_NAMES


@pytest.mark.parametrize(("m", "name", "fn"), CALLABLES, ids=[f"{m}.{n}" for m, n, _ in CALLABLES])
def test_array_arguments_are_typed(m, name, fn):
    if (m, name) in UNTYPED_OK:
        return
    bad = [p for p in inspect.signature(fn).parameters if p in ARRAY_NAMES and _untyped(fn, p)]
    assert not bad, (
        f"fpjax.{m}.{name}: {bad} annotated Any or not at all; use ArrayLike (inputs), jax.Array (keys) "
        "or PyTree (params) from fpjax._src.array_types"
    )


def test_the_typing_check_can_fail():
    def untyped(x, key):
        return x

    def typed(x: ArrayLike, params: PyTree, *, key: jax.Array):  # noqa: F821 - never resolved
        return x

    def hidden(x: Params):  # noqa: F821 - an alias of Any
        return x

    hidden.__annotations__ = {"x": typing.Any}
    assert _untyped(untyped, "x") and _untyped(untyped, "key") and _untyped(hidden, "x")
    assert not any(_untyped(typed, p) for p in ("x", "params", "key"))


# ---- result records hold named fields, not dicts keyed by a fixed set of names

DICT_FIELD_OK = {
    ("spectrum", "LayerProfiles", "profiles"): "a mapping layer path -> profile (variable keys), as conv_kernels",
    ("experiment", "Claim", "evidence"): "the free-form JSON evidence written to metrics.json",
}
OBJECTS = {("models", "Model"), ("cnn", "CNN"), ("experiment", "Experiment")}  # behaviour, not results


def _dict_fields(cls) -> list[str]:
    ann: dict = {}
    for klass in reversed(cls.__mro__):
        ann.update(getattr(klass, "__annotations__", {}))
    out = []
    for field, a in ann.items():
        text = a if isinstance(a, str) else getattr(a, "__forward_arg__", None) or repr(a)
        if a is dict or typing.get_origin(a) is dict or re.match(r"\s*(dict|Mapping|typing\.Mapping)\b", str(text)):
            out.append(field)
    return out


def test_result_fields_are_not_dicts():
    import dataclasses

    bad = [
        f"{m}.{n}.{f}"
        for m, n, o in PUBLIC
        if inspect.isclass(o)
        and (m, n) not in OBJECTS
        and ((issubclass(o, tuple) and hasattr(o, "_fields")) or dataclasses.is_dataclass(o))
        for f in _dict_fields(o)
        if (m, n, f) not in DICT_FIELD_OK
    ]
    assert not bad, f"{bad}: use a NamedTuple with one field per name (e.g. tangent_fourier.PerMethod)"

    class Old(typing.NamedTuple):
        measured: dict
        rel_error: dict[str, float]

    assert _dict_fields(Old) == ["measured", "rel_error"]
