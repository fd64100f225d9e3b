"""Declare, run and report reproducible experiments.

An experiment is a module whose attribute ``EXPERIMENT`` is an :class:`Experiment`: its name, a
one-line description, the claim of its source in words, the source itself (paper and arXiv id or
DOI), typed ``quick`` and ``full`` settings, captions for its figures, and a function
``run(config, out_dir) -> metrics``. The settings' types are taken from the declared defaults, so
``--set steps=2.5`` is refused for an integer ``steps``.

``run`` receives the merged settings as a frozen, typed :class:`Config` (``config.steps`` an int,
``config.learning_rate`` a float, lists as tuples, ``config.seed`` the run's seed; read-only, also as a
mapping of the JSON values that ``config.json`` records) and a directory for its figures, and returns a
``dict`` of metrics whose ``"claims"`` entry is a list of :func:`claim` records computed from the data:

* :func:`seed_key` / :func:`seed_keys`: the one way keys are derived from the run's seed;
* :func:`claim`: one verdict, with the numbers it was decided on;
* :func:`new_figure` / :func:`save_figure`: pyplot-free matplotlib figures, written atomically;
* :func:`summarize_claims`: how many claims held;
* :func:`run_experiment`: run one experiment into a results folder (what ``fpjax run`` does),
  :func:`build_report`: the HTML page of the results.

The command line (``fpjax list | run NAME | report``) discovers experiments in the repository's
``experiments/`` folder (or, from an installed wheel, in ``fpjax._experiments``) and refuses a module
that is malformed. It reads the declarations from the modules' sources, without running them (or
importing JAX), when they are written in the static form of the template (constants and
``dict(QUICK, ...)``); :func:`get_experiment` imports the module.

Examples:
    >>> import numpy as np
    >>> from fpjax.experiment import Experiment, claim, summarize_claims
    >>> def run(config, out_dir):
    ...     x = np.random.default_rng(config.seed).normal(size=config.n)
    ...     se = x.std() / np.sqrt(x.size)
    ...     return {"claims": [claim("the mean is near 0", abs(x.mean()) < 4 * se, {"mean": x.mean()})]}
    >>> exp = Experiment(name="toy", description="a toy", claim="the mean is near 0",
    ...                  source="none (a doctest)", quick={"n": 100}, full={"n": 10000}, run=run)
    >>> cfg = exp.config("quick", {"n": 50}, seed=1)
    >>> cfg
    Config(n=50, seed=1)
    >>> summarize_claims(exp.run(cfg, None)["claims"]).all_held
    True
    >>> exp.config("quick", {"n": 2.5})
    Traceback (most recent call last):
    ...
    ValueError: setting 'n' of experiment 'toy' must be an int; got 2.5
"""

from fpjax._src.experiment import (
    Claim,
    ClaimSummary,
    Config,
    Experiment,
    MalformedExperimentError,
    claim,
    new_figure,
    save_figure,
    save_text,
    seed_key,
    seed_keys,
    summarize_claims,
    to_jsonable,
)
from fpjax._src.experiment_registry import get_experiment as _get_experiment
from fpjax._src.experiment_registry import list_experiments as _list_experiments
from fpjax._src.runner import build_report, run_experiment

__all__ = [
    "Experiment",
    "Config",
    "MalformedExperimentError",
    "list_experiments",
    "get_experiment",
    "run_experiment",
    "build_report",
    "Claim",
    "ClaimSummary",
    "claim",
    "summarize_claims",
    "seed_key",
    "seed_keys",
    "new_figure",
    "save_figure",
    "save_text",
    "to_jsonable",
]


def list_experiments() -> tuple[str, ...]:
    """Names of every experiment (sorted), from the repository's ``experiments/`` folder or, installed,
    from ``fpjax._experiments``.

    Raises:
        MalformedExperimentError: a module of the folder is not a valid experiment (never skipped).

    Examples:
        >>> "fp-1d" in list_experiments()
        True
    """
    return tuple(_list_experiments())


def get_experiment(name: str) -> Experiment:
    """The :class:`Experiment` called ``name`` (its module imported); ``ValueError`` naming the
    closest known name otherwise.

    Examples:
        >>> get_experiment("fp-1d").quick["activation"]
        'tanh'
    """
    return _get_experiment(name)
