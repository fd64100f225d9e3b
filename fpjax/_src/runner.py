"""Run and report the experiments (see :mod:`fpjax.experiment`; discovery in
:mod:`fpjax._src.experiment_registry`).

``run_experiment(name, setting="quick", seed=0, out_root="results", overrides=None)`` merges the
experiment's typed settings with the overrides into a frozen
:class:`~fpjax._src.experiment_spec.Config` and runs it in a staging directory
``<out_root>/.<name>.staging-*``; only when the run has finished (config, figures and metrics all
written) does the staging directory replace ``<out_root>/<name>``, so config, metrics and figures
always come from the same run. A failed or interrupted run leaves the previous results untouched.
``build_report(out_root)`` writes ``<out_root>/index.html``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fpjax._src import experiment_registry as registry
from fpjax._src import io, signals
from fpjax._src.experiment import summarize_claims
from fpjax._src.experiment_registry import DEMO, experiments_package, list_experiments
from fpjax._src.experiment_spec import MalformedExperimentError
from fpjax._src.log import logger

__all__ = ["list_experiments", "get_experiment", "run_experiment", "build_report", "experiments_package", "DEMO"]


def _modules() -> dict:
    """``{name: Experiment}`` of every experiment (imports every module)."""
    return registry.modules()


def get_experiment(name: str):
    """The :class:`~fpjax.experiment.Experiment` called ``name``; ``ValueError`` naming the closest otherwise."""
    return registry.get_experiment(name)


def _platform() -> dict:
    import jax

    from fpjax._src.version import __version__ as fpjax_version

    devs = jax.devices()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "fpjax": fpjax_version,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": len(devs),
        "device_kind": devs[0].device_kind if devs else None,
        "processes": jax.process_count(),
    }


def _check_metrics(name: str, metrics: Any) -> dict:
    if not isinstance(metrics, dict) or "claims" not in metrics:
        raise RuntimeError(f"experiment {name} returned no 'claims' list in its metrics")
    try:
        summarize_claims(metrics)
    except ValueError as err:
        raise RuntimeError(f"experiment {name} returned malformed claims: {err}") from None
    return dict(metrics)


def run_experiment(
    name,
    setting: str = "quick",
    *,
    seed: int = 0,
    out_root: str | Path = "results",
    overrides: dict[str, Any] | None = None,
    write: bool = True,
) -> Mapping[str, Any]:
    """Run one experiment; return its metrics (also written to ``<out_root>/<name>/metrics.json``).

    The run writes ``config.json`` (settings, seed, versions, devices), the figures and
    ``metrics.json`` (the experiment's metrics plus ``runtime_s``) into a staging directory next to
    ``<out_root>/<name>`` and replaces that directory only when it has finished, so an error or an
    interruption leaves the previous results in place.

    Args:
        name: an experiment's name (see :func:`list_experiments`) or an :class:`Experiment` (e.g. one
            being written, not yet in the ``experiments`` folder).
        setting: the scale, ``"quick"`` or ``"full"`` (or ``"cpu"`` where declared).
        seed: the run's seed, an int in ``[0, 2**63)``.
        out_root: the results folder.
        overrides: ``{setting: value}`` replacing declared settings (type-checked).
        write: ``False`` in a non-main process of a distributed run: nothing is kept (the figures go
            to a temporary directory that is removed).

    Returns:
        The metrics, as written to ``metrics.json``: a JSON document whose keys the experiment
        chooses (with ``"claims"`` and ``"runtime_s"``), hence a mapping rather than a record.

    Examples:
        >>> import tempfile
        >>> from fpjax.experiment import Experiment, claim, run_experiment
        >>> toy = Experiment(name="toy", description="a toy", claim="2 + 2 = 4", source="arithmetic",
        ...                  quick={"a": 2}, full={"a": 2},
        ...                  run=lambda cfg, out: {"claims": [claim("2 + 2 = 4", cfg.a + 2 == 4, {})]})
        >>> out = tempfile.mkdtemp()
        >>> run_experiment(toy, out_root=out)["claims"][0]["held"]
        True
        >>> sorted(p.name for p in (Path(out) / "toy").iterdir())
        ['config.json', 'metrics.json']
    """
    from fpjax._src.experiment import Experiment

    exp = name if isinstance(name, Experiment) else get_experiment(name)
    name = exp.name
    config = exp.config(setting, overrides, seed=seed)
    logger.info("%s: running the %s setting, seed %d", name, setting, seed)
    logger.debug("%s: settings %s", name, json.dumps(config.to_dict()))
    stage, final = _staging(name, out_root, write)
    try:
        with signals.removed_on_signal(stage):
            io.apply_umask(stage, directory=True)
            record = {
                "experiment": name,
                "setting": setting,
                "config": config.to_dict(),
                "description": exp.description,
                "claim": exp.claim,
                "source": exp.source,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "platform": _platform(),
            }
            io.atomic_write_json(stage / "config.json", record)
            t0 = time.perf_counter()
            metrics = _check_metrics(name, exp.run(config, stage))
            metrics["runtime_s"] = round(time.perf_counter() - t0, 2)
            logger.debug("%s: finished in %.1f s; writing the results", name, metrics["runtime_s"])
            metrics = io.to_jsonable(metrics)
            io.atomic_write_json(stage / "metrics.json", metrics)
            if final is not None:
                _replace_dir(stage, final)
        return metrics
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _staging(name: str, out_root, write: bool) -> tuple[Path, Path | None]:
    """A new staging directory for a run of ``name`` and the results directory it will replace."""
    if not write:
        return Path(tempfile.mkdtemp(prefix=f"fpjax-{name}-")), None
    root = io.ensure_writable_dir(Path(out_root), "out")
    final = root / name
    if final.exists() and not final.is_dir():
        raise ValueError(f"out {str(final)!r} exists and is not a directory")
    try:
        return Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.staging-")), final
    except OSError as err:
        raise ValueError(f"out {str(root)!r} is not writable: {err.strerror or err}") from None


def _replace_dir(stage: Path, final: Path) -> None:
    """Put the finished ``stage`` in place of ``final``: the old results are moved aside first and
    deleted only after the new ones are in place, so an interruption leaves one complete set."""
    old = None
    with signals.critical():  # a signal between the two renames would leave no results
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
            os.rmdir(old)
            os.replace(final, old)
        try:
            os.replace(stage, final)
        except BaseException:
            if old is not None and not final.exists():
                os.replace(old, final)
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_report(out_root: str | Path = "results") -> Path:
    """Write ``<out_root>/index.html`` from the finished runs under ``out_root``.

    A self-contained page (inline CSS, no scripts, no network): a summary at the top (claims held per
    experiment, run dates, versions, devices), then per experiment its claim and source, settings,
    verdicts with their evidence, and figures with the captions the experiment declares. Every value
    taken from the result files is HTML-escaped.

    Args:
        out_root: the results folder (one subfolder per experiment, as :func:`run_experiment` writes).

    Returns:
        The path of ``index.html``.

    Examples:
        >>> import tempfile
        >>> from fpjax.experiment import Experiment, build_report, claim, run_experiment
        >>> toy = Experiment(name="toy", description="a toy", claim="1 < 2", source="arithmetic",
        ...                  quick={}, full={}, run=lambda cfg, out: {"claims": [claim("1 < 2", 1 < 2, {})]})
        >>> out = tempfile.mkdtemp()
        >>> _ = run_experiment(toy, out_root=out)
        >>> "1 of 1</b> claims held" in build_report(out).read_text()
        True
    """
    if not isinstance(out_root, (str, os.PathLike)):
        raise TypeError(f"out_root must be a folder path (str or os.PathLike); got {type(out_root).__name__}")
    root = Path(out_root)
    if not root.is_dir():
        raise ValueError(f"out_root {str(root)!r} does not exist; run an experiment first (`fpjax run NAME`)")
    try:
        declared = registry.declarations()
    except MalformedExperimentError:
        declared = {}
    runs = []
    for exp_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        mfile = exp_dir / "metrics.json"
        if not mfile.is_file():
            continue
        metrics = _read_json(mfile)
        if not isinstance(metrics, dict):
            raise ValueError(f"{mfile} is malformed: expected a JSON object")
        cfile = exp_dir / "config.json"
        cfg = _read_json(cfile) if cfile.is_file() else {}
        if not isinstance(cfg, dict):
            raise ValueError(f"{cfile} is malformed: expected a JSON object")
        runs.append((exp_dir.name, exp_dir, cfg, metrics, declared.get(exp_dir.name)))
    page = _render(runs)
    return io.atomic_write_bytes(root / "index.html", page.encode())


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is malformed: {err}") from None
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err.strerror or err}") from None


def _e(v: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    import html

    return html.escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str), quote=True)


def _claims(metrics: dict) -> list[tuple[str, Any, Any]]:
    out = []
    claims = metrics.get("claims")
    for c in claims if isinstance(claims, list) else []:
        if isinstance(c, dict):
            out.append((c.get("claim", ""), c.get("held"), c.get("evidence")))
        else:
            out.append((c, None, None))
    return out


def _verdict(held: Any) -> tuple[str, str]:
    if held is True:
        return "held", "held"
    if held is False:
        return "not-held", "did not hold"
    return "unknown", f"unknown ({held!r})"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}.held{color:#060;font-weight:bold}"
    ".not-held{color:#b00;font-weight:bold}.unknown{color:#a60}figure{display:inline-block;margin:6px;"
    "max-width:580px;vertical-align:top}figure img{max-width:560px;border:1px solid #ddd}"
    "figcaption{font-size:.9em;color:#444}pre{white-space:pre-wrap;font-size:.8em;background:#f8f8f8;"
    "padding:4px}section{border-top:2px solid #ddd;margin-top:1.5em}.meta{color:#555;font-size:.9em}"
)


def _render(runs: list) -> str:
    import urllib.parse

    now = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    platforms = []
    for _, _, cfg, _, _ in runs:
        p = cfg.get("platform") if isinstance(cfg.get("platform"), dict) else {}
        line = ", ".join(
            f"{k} {p[k]}" for k in ("fpjax", "jax", "python", "backend", "device_kind", "devices", "machine") if k in p
        )
        if line and line not in platforms:
            platforms.append(line)
    n_held = sum(1 for *_, m, _ in runs for _, h, _ in _claims(m) if h is True)
    n_all = sum(len(_claims(m)) for *_, m, _ in runs)
    summary_rows, claim_rows, sections = [], [], []
    for name, exp_dir, cfg, metrics, exp in runs:
        cl = _claims(metrics)
        held = sum(1 for _, h, _ in cl if h is True)
        cls = "held" if cl and held == len(cl) else "not-held"
        anchor = "exp-" + urllib.parse.quote(name, safe="")
        summary_rows.append(
            f"<tr><td><a href='#{_e(anchor)}'>{_e(name)}</a></td><td class='{cls}'>{held} / {len(cl)}</td>"
            f"<td>{_e(cfg.get('setting', '?'))}</td><td>{_e((cfg.get('config') or {}).get('seed', '?'))}</td>"
            f"<td>{_e(cfg.get('started', '?'))}</td><td>{_e(metrics.get('runtime_s', '?'))}</td></tr>"
        )
        for text, h, _ in cl:
            c, word = _verdict(h)
            claim_rows.append(
                f"<tr><td><a href='#{_e(anchor)}'>{_e(name)}</a></td><td>{_e(text)}</td>"
                f"<td class='{c}'>{_e(word)}</td></tr>"
            )
        settings = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
        set_rows = "".join(f"<tr><td>{_e(k)}</td><td><code>{_e(v)}</code></td></tr>" for k, v in settings.items())
        verdicts = "".join(
            f"<tr><td>{_e(text)}</td><td class='{_verdict(h)[0]}'>{_e(_verdict(h)[1])}</td><td><details>"
            f"<summary>evidence</summary><pre>{_e(json.dumps(ev, indent=1, ensure_ascii=False)[:20000])}</pre>"
            "</details></td></tr>"
            for text, h, ev in cl
        )
        captions = dict(exp.figures) if exp is not None else {}
        figs = []
        for png in sorted(exp_dir.glob("*.png")):
            src = urllib.parse.quote(f"{exp_dir.name}/{png.name}")
            cap = captions.get(png.name) or png.stem.replace("_", " ")
            # shown at most 560 px wide (_CSS); the image links to itself at full size (multi-panel figures)
            figs.append(
                f"<figure><a href='{_e(src)}' title='full size'><img src='{_e(src)}' alt='{_e(png.stem)}'></a>"
                f"<figcaption><b>{_e(png.name)}</b>: {_e(cap)} (click for full size)</figcaption></figure>"
            )
        desc = exp.description if exp is not None else cfg.get("description", "")
        claim_text = exp.claim if exp is not None else cfg.get("claim", "")
        source = exp.source if exp is not None else cfg.get("source", "")
        sections.append(
            f"<section id='{_e(anchor)}'><h2>{_e(name)}</h2><p>{_e(desc)}</p>"
            f"<p><b>Claim of the source:</b> {_e(claim_text)}</p><p class='meta'><b>Source:</b> {_e(source)}</p>"
            f"<p class='meta'>setting {_e(cfg.get('setting', '?'))}, started {_e(cfg.get('started', '?'))}, "
            f"runtime {_e(metrics.get('runtime_s', '?'))} s</p>"
            f"<h3>Verdicts</h3><table><tr><th>claim</th><th>result</th><th>evidence</th></tr>{verdicts}</table>"
            f"<details><summary>settings</summary><table><tr><th>setting</th><th>value</th></tr>{set_rows}"
            f"</table></details><h3>Figures</h3>{''.join(figs) or '<p>no figures</p>'}</section>"
        )
    plat = "".join(f"<li>{_e(p)}</li>" for p in platforms) or "<li>unknown</li>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"script-src 'none'; object-src 'none'\"><meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>fpjax results</title><style>{_CSS}</style></head><body>"
        "<h1>fpjax: do the claims of the sources hold?</h1>"
        f"<p><b>{n_held} of {n_all}</b> claims held in {len(runs)} experiment(s). Page written {_e(now)}.</p>"
        f"<p class='meta'>Versions and devices of the runs:</p><ul class='meta'>{plat}</ul>"
        "<h2>Summary</h2><table id='summary'><tr><th>experiment</th><th>claims held</th><th>setting</th>"
        f"<th>seed</th><th>run started</th><th>runtime (s)</th></tr>{''.join(summary_rows)}</table>"
        "<h2>Claims</h2><table id='claims'><tr><th>experiment</th><th>claim</th><th>result</th></tr>"
        f"{''.join(claim_rows)}</table>{''.join(sections)}</body></html>"
    )
