"""The reproduction ledger: every claim of every experiment, at every scale it was run.

A ledger record is a small JSON file ``ledger/<scale>/<experiment>.json`` in the repository, distilled
from one run's ``metrics.json`` and ``config.json`` (see :func:`record_from_run`): each claim's text,
whether it held and the numbers it was decided on (long arrays summarised by count, min, median, max,
mean and standard deviation; per-seed lists get their mean and spread), the settings, the runtime, the
machine, the date and the versions. ``docs/ledger.md`` is generated from these files by
:func:`render_page`; ``tests/test_ledger.py`` checks that the committed page is in sync.

Scales:

* ``quick``: ``fpjax run NAME --quick`` with its declared settings (CPU minutes);
* ``cpu``: larger settings that still run on a CPU (the overrides are recorded in each file);
* ``full``: the paper's scale, ``fpjax run NAME --full`` (a GPU).

Command line (``fpjax ledger --help``)::

    fpjax ledger                                   # regenerate docs/ledger.md from ledger/
    fpjax ledger --import results --scale quick    # distil results/<name>/ into ledger/quick/
    fpjax ledger --check                           # exit status 1 when docs/ledger.md is stale
    fpjax ledger --sensitivity fp-parity           # run, distil and draw a sensitivity study
                                                   # (fpjax._src.ledger_sensitivity), then the page

Result files are data: they are parsed as JSON and never executed. A record is refused when its
file name or folder does not match the experiment and scale it declares.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "SCALES",
    "FORMAT",
    "record_from_run",
    "import_results",
    "read_record",
    "load_ledger",
    "render_page",
    "machine_description",
    "main",
]

SCALES = ("quick", "cpu", "full")
FORMAT = "fpjax-ledger/1"
ROOT = Path(__file__).resolve().parents[2]
LEDGER_DIR = ROOT / "ledger"
PAGE = ROOT / "docs" / "ledger.md"

_MAX_LIST = 12  # numeric lists longer than this are summarised
_MAX_DEPTH = 4
_MAX_STR = 300
_SIG = 4  # significant digits kept

_SCALE_TEXT = {
    "quick": "`fpjax run NAME --quick`: the declared quick settings (CPU minutes)",
    "cpu": "larger settings on a CPU, toward the paper's (the overrides of the quick settings are listed per run)",
    "full": "`fpjax run NAME --full`: the paper's scale (a GPU)",
}


# --------------------------------------------------------------------------------------------------
# distilling a run


def machine_description() -> dict:
    """``{"cpu": model name, "cores": logical CPUs, "system": OS}`` of this computer."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.release()}"}


def _round(x: float) -> float | int | str:
    if isinstance(x, bool) or isinstance(x, int):
        return x
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return 0.0
    return float(f"{x:.{_SIG}g}")


def _numbers(v: Any) -> list[float] | None:
    """The flattened numbers of a (nested) list of numbers, or None when it holds anything else."""
    out: list[float] = []
    stack = [v]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(float(item))
        elif item in ("nan", "inf", "-inf"):
            out.append(float(item))
        else:
            return None
    return out


def _summary(xs: list[float]) -> dict:
    fin = [x for x in xs if math.isfinite(x)]
    out: dict[str, Any] = {"n": len(xs)}
    if len(fin) < len(xs):
        out["non_finite"] = len(xs) - len(fin)
    if fin:
        out.update(
            min=_round(min(fin)),
            median=_round(statistics.median(fin)),
            max=_round(max(fin)),
            mean=_round(statistics.fmean(fin)),
        )
        if len(fin) > 1:
            out["sd"] = _round(statistics.stdev(fin))
    return out


def _seed_spread(v: list) -> dict | None:
    """Mean and sample standard deviation over seeds (axis 0) of a per-seed list."""
    if len(v) < 2:
        return None
    if all(isinstance(x, list) for x in v):
        rows = [_numbers(x) for x in v]
        if any(r is None for r in rows) or len({len(r) for r in rows}) != 1:
            return None
        cols = list(zip(*rows))
        if not cols or len(cols) > _MAX_LIST:
            return None
        fin = [[c for c in col if math.isfinite(c)] for col in cols]
        return {
            "mean": [_round(statistics.fmean(c)) if c else "nan" for c in fin],
            "sd": [_round(statistics.stdev(c)) if len(c) > 1 else "nan" for c in fin],
        }
    xs = _numbers(v)
    if xs is None:
        return None
    fin = [x for x in xs if math.isfinite(x)]
    if len(fin) < 2:
        return None
    return {"mean": _round(statistics.fmean(fin)), "sd": _round(statistics.stdev(fin))}


def _distill(v: Any, key: str = "", depth: int = 0) -> Any:
    """The deciding numbers of an evidence value, bounded in size (see the module docstring)."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return _round(v)
    if isinstance(v, str):
        return v if len(v) <= _MAX_STR else v[: _MAX_STR - 1] + "…"
    if isinstance(v, list):
        xs = _numbers(v)
        if xs is not None:
            kept = _round_nested(v) if len(xs) <= _MAX_LIST else {"summary": _summary(xs)}
            spread = _seed_spread(v) if "seed" in key.lower() else None
            if spread is None:
                return kept
            return (
                {"values": kept, "over_seeds": spread} if not isinstance(kept, dict) else {**kept, "over_seeds": spread}
            )
        if depth >= _MAX_DEPTH:
            return f"[{len(v)} items]"
        items = [_distill(x, key, depth + 1) for x in v[:_MAX_LIST]]
        if len(v) > _MAX_LIST:
            items.append(f"… {len(v) - _MAX_LIST} more")
        return items
    if isinstance(v, Mapping):
        if depth >= _MAX_DEPTH:
            return f"{{{len(v)} entries}}"
        return {str(k): _distill(x, str(k), depth + 1) for k, x in v.items()}
    return str(v)[:_MAX_STR]


def _round_nested(v: Any) -> Any:
    if isinstance(v, list):
        return [_round_nested(x) for x in v]
    if isinstance(v, str):
        return v
    return _round(v)


def _check_claims(claims: Any, where: str) -> list:
    if not isinstance(claims, list) or not claims:
        raise ValueError(f"{where}: 'claims' must be a non-empty list of claim records")
    for i, c in enumerate(claims):
        if not isinstance(c, Mapping) or not isinstance(c.get("claim"), str) or not isinstance(c.get("held"), bool):
            raise ValueError(f"{where}: claims[{i}] is not a claim record {{'claim': str, 'held': bool, ...}}")
    return claims


def record_from_run(
    metrics: Mapping,
    config: Mapping,
    *,
    scale: str,
    defaults: Mapping | None = None,
    machine: Mapping | None = None,
    commit: str | None = None,
    note: str | None = None,
) -> dict:
    """The ledger record of one run, from its ``metrics.json`` and ``config.json`` contents.

    Args:
      metrics: the run's metrics (a ``"claims"`` list of ``{"claim", "held", "evidence"}``, ``"runtime_s"``).
      config: the run's config record (``"experiment"``, ``"setting"``, ``"config"``, ``"source"``,
        ``"started"``, ``"platform"``), as written by ``fpjax run``.
      scale: one of :data:`SCALES`. A ``quick`` record must come from a ``--quick`` run without
        overrides, a ``full`` one from a ``--full`` run.
      defaults: the experiment's declared settings of the run's ``setting``; the settings that differ
        are recorded as ``"overrides"``.
      machine: ``{"cpu", "cores", ...}`` (default :func:`machine_description` of this computer).
      commit: the source revision of the run, if known. note: why the settings are what they are.

    Returns:
      The record (plain JSON types).

    Examples:
      >>> metrics = {"claims": [{"claim": "a", "held": True, "evidence": {"x": 0.123456}}], "runtime_s": 1.5}
      >>> config = {"experiment": "toy", "setting": "quick", "config": {"n": 3, "seed": 0}, "source": "S"}
      >>> rec = record_from_run(metrics, config, scale="quick", machine={"cpu": "c", "cores": 2})
      >>> rec["claims"], rec["held"], rec["total"]
      ([{'claim': 'a', 'held': True, 'numbers': {'x': 0.1235}}], 1, 1)
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    if not isinstance(metrics, Mapping) or not isinstance(config, Mapping):
        raise TypeError("metrics and config must be JSON objects (mappings)")
    name = config.get("experiment")
    if not isinstance(name, str) or not name:
        raise ValueError("config has no 'experiment' name")
    claims = _check_claims(metrics.get("claims"), f"metrics of {name}")
    setting = config.get("setting")
    settings = config.get("config") if isinstance(config.get("config"), Mapping) else {}
    overrides = None
    if defaults is not None:
        overrides = {k: v for k, v in settings.items() if k != "seed" and k in defaults and defaults[k] != v}
    if scale == "quick" and (setting != "quick" or overrides):
        raise ValueError(
            f"{name}: a quick-scale record must come from a --quick run without overrides "
            f"(setting {setting!r}, overrides {sorted(overrides or {})}); import it with --scale cpu"
        )
    if scale == "full" and setting != "full":
        raise ValueError(f"{name}: a full-scale record must come from a --full run; got setting {setting!r}")
    plat = config.get("platform") if isinstance(config.get("platform"), Mapping) else {}
    out = {
        "format": FORMAT,
        "experiment": name,
        "scale": scale,
        "description": str(config.get("description", "")),
        "source": str(config.get("source", "")),
        "claim_of_source": str(config.get("claim", "")),
        "setting": setting,
        "settings": dict(settings),
        "overrides": overrides,
        "started": config.get("started"),
        "runtime_s": metrics.get("runtime_s"),
        "machine": dict(machine) if machine is not None else machine_description(),
        "platform": {k: plat[k] for k in ("backend", "device_kind", "devices", "processes", "machine") if k in plat},
        "versions": {k: plat[k] for k in ("fpjax", "jax", "python") if k in plat},
        "commit": commit,
        "note": note,
        "held": sum(c["held"] for c in claims),
        "total": len(claims),
        "claims": [
            {"claim": c["claim"], "held": c["held"], "numbers": _distill(c.get("evidence") or {})} for c in claims
        ],
    }
    return {k: v for k, v in out.items() if v is not None}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err.strerror or err}") from None


def _refuse_constant(name: str):
    raise ValueError(f"non-finite number {name} (write it as a string)")


def _declared(name: str, setting: Any) -> tuple[Mapping | None, dict]:
    """The experiment's declared settings of ``setting`` and its description, claim and source
    (``None, {}`` when this checkout does not know it)."""
    try:
        from fpjax._src import runner

        exp = runner.get_experiment(name)
    except Exception:  # noqa: BLE001 - an unknown or broken experiment only loses the override list
        return None, {}
    defaults = exp.quick if setting == "quick" else exp.full if setting == "full" else None
    return defaults, {"description": exp.description, "claim": exp.claim, "source": exp.source}


def import_results(
    results_dir: str | os.PathLike,
    scale: str,
    *,
    ledger_dir: str | os.PathLike = LEDGER_DIR,
    names: list[str] | None = None,
    machine: Mapping | None = None,
    commit: str | None = None,
    note: str | None = None,
) -> list[Path]:
    """Distil every ``<results_dir>/<name>/{metrics,config}.json`` into ``<ledger_dir>/<scale>/<name>.json``.

    Args:
      results_dir: an ``--out`` folder of ``fpjax run``.
      scale: one of :data:`SCALES`.
      ledger_dir: the ledger folder (default ``ledger/`` of the checkout).
      names: import only these experiments (default: every finished run in ``results_dir``).
      machine, commit, note: see :func:`record_from_run`.

    Returns:
      The written files, sorted.
    """
    from fpjax._src import io

    root = Path(results_dir)
    if not root.is_dir():
        raise ValueError(f"results_dir {str(root)!r} is not a folder of results (`fpjax run ... --out DIR`)")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    runs = sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "metrics.json").is_file()
    )
    if names:
        missing = sorted(set(names) - {p.name for p in runs})
        if missing:
            raise ValueError(f"results_dir {str(root)!r} has no finished run of {', '.join(missing)}")
        runs = [p for p in runs if p.name in names]
    if not runs:
        raise ValueError(f"results_dir {str(root)!r} holds no finished run (<name>/metrics.json)")
    records = []
    for run in runs:
        metrics, config = _read_json(run / "metrics.json"), _read_json(run / "config.json")
        if not isinstance(metrics, dict) or not isinstance(config, dict):
            raise ValueError(f"{run}: metrics.json and config.json must hold JSON objects")
        if config.get("experiment") != run.name:
            raise ValueError(f"{run}/config.json is of experiment {config.get('experiment')!r}, not {run.name!r}")
        defaults, declared = _declared(run.name, config.get("setting"))
        # Runs written before config.json carried the declaration get it from this checkout.
        config = {**declared, **{k: v for k, v in config.items() if v not in (None, "")}}
        records.append(
            record_from_run(metrics, config, scale=scale, defaults=defaults, machine=machine, commit=commit, note=note)
        )
    out_dir = Path(ledger_dir) / scale
    out_dir.mkdir(parents=True, exist_ok=True)
    return sorted(io.atomic_write_json(out_dir / f"{r['experiment']}.json", r) for r in records)


# --------------------------------------------------------------------------------------------------
# reading the ledger


def read_record(path: str | os.PathLike) -> dict:
    """One ledger file, checked: its folder must be its scale and its name its experiment."""
    path = Path(path)
    rec = _read_json(path)
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ValueError(f"{path} is not a ledger record (format {FORMAT!r})")
    if rec.get("experiment") != path.stem:
        raise ValueError(f"{path} holds experiment {rec.get('experiment')!r}, not {path.stem!r}: refused")
    if rec.get("scale") != path.parent.name or rec.get("scale") not in SCALES:
        raise ValueError(f"{path} holds scale {rec.get('scale')!r}, not {path.parent.name!r}: refused")
    for i, c in enumerate(_check_claims(rec.get("claims"), str(path))):
        if not isinstance(c.get("numbers", {}), (dict, list, str, int, float, type(None))):
            raise ValueError(f"{path}: claims[{i}].numbers is malformed")
    return rec


def load_ledger(ledger_dir: str | os.PathLike = LEDGER_DIR) -> dict[str, dict[str, dict]]:
    """``{experiment: {scale: record}}`` of every file under ``ledger_dir`` (missing folder: empty)."""
    root = Path(ledger_dir)
    out: dict[str, dict[str, dict]] = {}
    if not root.is_dir():
        return out
    for sub in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not sub.is_dir() or sub.name == "sensitivity":  # sensitivity studies: ledger_sensitivity
            continue
        if sub.name not in SCALES:
            raise ValueError(f"{sub} is not a scale folder ({', '.join(SCALES)})")
        for f in sorted(sub.glob("*.json")):
            rec = read_record(f)
            out.setdefault(rec["experiment"], {})[rec["scale"]] = rec
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------------
# the page


def _md(text: Any) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, one line, pipes escaped."""
    s = " ".join(str(text).split())
    return html.escape(s, quote=False).replace("|", "\\|")


def _code(obj: Any) -> str:
    s = json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
    return "`" + s.replace("`", "'") + "`"


def _cell(rec: dict | None, text: str) -> str:
    if rec is None:
        return "not run"
    for c in rec["claims"]:
        if c["claim"] == text:
            return "✅ held" if c["held"] else "❌ not held"
    return "—"


def _run_details(scale: str, rec: dict) -> list[str]:
    m = rec.get("machine") or {}
    v = rec.get("versions") or {}
    p = rec.get("platform") or {}
    lines = [
        f'??? info "{scale}: {rec["held"]} of {rec["total"]} held — settings, machine and deciding numbers"',
        "",
        f"    - **started** {_md(rec.get('started', '?'))}; **runtime** {_md(rec.get('runtime_s', '?'))} s",
        f"    - **machine** {_md(m.get('cpu', '?'))}, {_md(m.get('cores', '?'))} cores; backend "
        f"{_md(p.get('backend', '?'))}" + (f" ({_md(p['device_kind'])})" if p.get("device_kind") else ""),
        f"    - **versions** fpjax {_md(v.get('fpjax', '?'))}, jax {_md(v.get('jax', '?'))}, "
        f"Python {_md(v.get('python', '?'))}"
        + (f"; source revision `{_md(rec['commit'])}`" if rec.get("commit") else ""),
        f"    - **settings** ({_md(rec.get('setting', '?'))}"
        + (" + overrides" if rec.get("overrides") else "")
        + f"): {_code(rec.get('settings', {}))}",
    ]
    if rec.get("overrides"):
        lines.append(f"    - **overrides of the declared settings**: {_code(rec['overrides'])}")
    if rec.get("note"):
        lines.append(f"    - **note**: {_md(rec['note'])}")
    lines.append("    - **deciding numbers**:")
    for i, c in enumerate(rec["claims"], 1):
        verdict = "held" if c["held"] else "not held"
        lines.append(f"        {i}. {verdict}: {_code(c.get('numbers', {}))}")
    lines.append("")
    return lines


def render_page(
    ledger: Mapping[str, Mapping[str, dict]],
    experiments: Mapping[str, str] | None = None,
    studies: Mapping[str, dict] | None = None,
) -> str:
    """The Markdown of ``docs/ledger.md`` from :func:`load_ledger`'s result (deterministic).

    Args:
      ledger: ``{experiment: {scale: record}}``.
      experiments: ``{name: description}`` of the declared experiments; those without a record are
        listed as not yet run.
      studies: ``{experiment: sensitivity record}``
        (:func:`fpjax._src.ledger_sensitivity.load_studies`), shown as each experiment's
        "Sensitivity" section.
    """
    from fpjax._src import ledger_sensitivity as sens

    studies = studies or {}
    names = sorted(set(ledger) | set(experiments or {}))
    lines = [
        "# Reproduction ledger",
        "",
        "Every claim of every experiment, and whether it held at each scale it was run, with the numbers",
        "it was decided on, the settings, the runtime and the machine. The page is generated from the",
        "result files `ledger/<scale>/<experiment>.json` kept in the repository (each distilled from one",
        "run's `metrics.json` and `config.json`) by `fpjax ledger`; a run is added with",
        "`fpjax ledger --import RESULTS_DIR --scale SCALE` (RESULTS_DIR the `--out` folder of `fpjax run`).",
        "",
        "Scales:",
        "",
    ]
    lines += [f"- **{s}**: {_SCALE_TEXT[s]}" for s in SCALES]
    lines += [
        "",
        "A claim that did not hold at a small scale is a statement about that scale: its deciding numbers",
        "say by how much, and the settings say what differs from the source. Settings are listed under",
        "the names `fpjax run --set` takes today (2026-12-06: `lr` became `learning_rate`, `*_iters`",
        "became `*_num_iters`); the values are those of the recorded run.",
        "",
        "## Summary",
        "",
        "| experiment | " + " | ".join(SCALES) + " |",
        "|---|" + "---|" * len(SCALES),
    ]
    totals = {s: [0, 0] for s in SCALES}
    for name in names:
        cells = []
        for s in SCALES:
            rec = ledger.get(name, {}).get(s)
            if rec is None:
                cells.append("not yet run")
            else:
                totals[s][0] += rec["held"]
                totals[s][1] += rec["total"]
                cells.append(f"{rec['held']} of {rec['total']} held")
        lines.append(f"| [{_md(name)}](#{_anchor(name)}) | " + " | ".join(cells) + " |")
    lines.append(
        "| **all** | " + " | ".join(f"**{h} of {t} held**" if t else "not yet run" for h, t in totals.values()) + " |"
    )
    lines.append("")
    lines += _verdict_tables(ledger, names)
    if studies:
        lines += sens.render_overview(studies)
    for name in names:
        runs = ledger.get(name, {})
        first = next((runs[s] for s in SCALES if s in runs), None)
        lines += [f"## {_md(name)} {{#{_anchor(name)}}}", ""]
        desc = first.get("description") if first else (experiments or {}).get(name, "")
        if desc:
            lines += [_md(desc), ""]
        if first is None:
            lines += ["Not yet run at any scale.", ""]
            if name in studies:
                lines += sens.render_section(studies[name], sens.STUDIES.get(name), f"ledger/{name}-sensitivity.png")
            continue
        if first.get("source"):
            lines += [f"**Source:** {_md(first['source'])}", ""]
        if first.get("claim_of_source"):
            lines += [f"**Claim of the source:** {_md(first['claim_of_source'])}", ""]
        texts = _claim_texts(runs)
        lines += ["| # | claim | " + " | ".join(SCALES) + " |", "|---|---|" + "---|" * len(SCALES)]
        for i, text in enumerate(texts, 1):
            lines.append(f"| {i} | {_md(text)} | " + " | ".join(_cell(runs.get(s), text) for s in SCALES) + " |")
        lines.append("")
        if name in studies:
            lines += sens.render_section(studies[name], sens.STUDIES.get(name), f"ledger/{name}-sensitivity.png")
        for s in SCALES:
            if s in runs:
                lines += _run_details(s, runs[s])
    return "\n".join(lines).rstrip() + "\n"


def _claim_texts(runs: Mapping[str, dict]) -> list[str]:
    texts: list[str] = []
    for s in SCALES:
        for c in runs.get(s, {}).get("claims", []):
            if c["claim"] not in texts:
                texts.append(c["claim"])
    return texts


def _verdict_tables(ledger: Mapping[str, Mapping[str, dict]], names: list[str]) -> list[str]:
    """The claims that did not hold at some scale, and those whose verdict differs between scales."""
    header = ["| experiment | claim | " + " | ".join(SCALES) + " |", "|---|---|" + "---|" * len(SCALES)]
    failed, changed = [], []
    for name in names:
        runs = ledger.get(name, {})
        for text in _claim_texts(runs):
            verdicts = {
                s: next((c["held"] for c in runs[s]["claims"] if c["claim"] == text), None) for s in SCALES if s in runs
            }
            row = f"| [{_md(name)}](#{_anchor(name)}) | {_md(text)} | " + " | ".join(
                _cell(runs.get(s), text) for s in SCALES
            )
            if False in verdicts.values():
                failed.append(row + " |")
            known = {v for v in verdicts.values() if v is not None}
            if len(known) > 1:
                changed.append(row + " |")
    out = ["## Claims that did not hold", ""]
    out += (header + failed) if failed else ["Every recorded claim held."]
    out += ["", "## Verdicts that changed between scales", ""]
    out += (header + changed) if changed else ["No claim has different verdicts at two recorded scales."]
    return out + [""]


def _anchor(name: str) -> str:
    return "ledger-" + "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name.lower())


def _declared_experiments() -> dict[str, str]:
    try:
        from fpjax._src import runner

        return runner.list_experiments()
    except Exception:  # noqa: BLE001 - without the registry the page lists the recorded experiments only
        return {}


def build_page(ledger_dir: str | os.PathLike = LEDGER_DIR) -> str:
    """:func:`render_page` of the ledger folder (with its ``sensitivity/`` studies) and the declared
    experiments."""
    from fpjax._src import ledger_sensitivity as sens

    studies = sens.load_studies(Path(ledger_dir) / "sensitivity")
    return render_page(load_ledger(ledger_dir), _declared_experiments(), studies)


# --------------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fpjax ledger",
        description="Regenerate the reproduction ledger page (docs/ledger.md) from ledger/<scale>/*.json.",
    )
    p.add_argument("--import", dest="results", metavar="RESULTS_DIR", help="distil the runs of an --out folder first")
    p.add_argument("--scale", choices=SCALES, help="the scale of the imported runs (required with --import)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="import only these experiments")
    p.add_argument("--note", help="why the imported runs have their settings (stored in each record)")
    p.add_argument("--commit", help="source revision of the imported runs")
    p.add_argument(
        "--sensitivity",
        metavar="NAME",
        help="run the sensitivity study of NAME (or 'all'; finished points are kept), distil it into "
        "ledger/sensitivity/NAME.json and draw docs/ledger/NAME-sensitivity.png",
    )
    p.add_argument("--no-run", action="store_true", help="with --sensitivity: distil and draw the finished points only")
    p.add_argument(
        "--runs-dir", default=None, help="with --sensitivity: the runs' folder (default results/sensitivity)"
    )
    p.add_argument("--check", action="store_true", help="exit 1 when the page is not in sync (writes nothing)")
    p.add_argument("--ledger-dir", default=str(LEDGER_DIR), help="default: ledger/ of the checkout")
    p.add_argument("--page", default=str(PAGE), help="default: docs/ledger.md of the checkout")
    return p


def _missing_figures(args) -> list[str]:
    from fpjax._src import ledger_sensitivity as sens

    figures = Path(args.page).parent / "ledger"
    names = sens.load_studies(Path(args.ledger_dir) / "sensitivity")
    return [str(figures / f"{n}-sensitivity.png") for n in names if not (figures / f"{n}-sensitivity.png").is_file()]


def _sensitivity(args) -> None:
    from fpjax._src import ledger_sensitivity as sens

    names = list(sens.STUDIES) if args.sensitivity == "all" else [args.sensitivity]
    unknown = [n for n in names if n not in sens.STUDIES]
    if unknown:
        raise ValueError(f"--sensitivity: no study of {unknown[0]!r}; studies: all, {', '.join(sens.STUDIES)}")
    results = Path(args.runs_dir) if args.runs_dir else sens.RESULTS_DIR
    figures = Path(args.page).parent / "ledger"
    for name in names:
        study = sens.STUDIES[name]
        if not args.no_run and not args.check:
            sens.run_study(study, results_dir=results)
        if not args.check:
            rec_path = sens.distil(
                study,
                results_dir=results,
                out_dir=Path(args.ledger_dir) / "sensitivity",
                ledger_dir=args.ledger_dir,
            )
            sens.draw(sens.read_study(rec_path), figures / f"{name}-sensitivity.png")
            print(f"wrote {rec_path} and {figures / f'{name}-sensitivity.png'}")


def main(argv: list[str] | None = None) -> int:
    """``fpjax ledger [--import RESULTS_DIR --scale SCALE] [--sensitivity NAME [--no-run]] [--check]``; returns
    the exit status."""
    from fpjax._src import io

    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if args.results is not None:
            if args.scale is None:
                raise ValueError("--import needs --scale (quick, cpu or full)")
            written = import_results(
                args.results,
                args.scale,
                ledger_dir=args.ledger_dir,
                names=args.only,
                commit=args.commit,
                note=args.note,
            )
            print(f"imported {len(written)} run(s) into {Path(args.ledger_dir) / args.scale}")
        if args.sensitivity is not None:
            _sensitivity(args)
        page = build_page(args.ledger_dir)
        target = Path(args.page)
        if args.check:
            current = target.read_text(encoding="utf-8") if target.is_file() else ""
            if current != page:
                print(f"{target} is not in sync with {args.ledger_dir}; run `fpjax ledger`", file=sys.stderr)
                return 1
            missing = _missing_figures(args)
            if missing:
                print(
                    f"sensitivity figures missing: {', '.join(missing)}; run `fpjax ledger --sensitivity NAME --no-run`",
                    file=sys.stderr,
                )
                return 1
            print(f"{target} is in sync")
            return 0
        io.atomic_write_bytes(target, page.encode("utf-8"))
        print(f"wrote {target}")
        return 0
    except ValueError as err:
        print(f"fpjax ledger: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
