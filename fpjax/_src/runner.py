"""Discover, run and report the experiments of ``experiments/`` (SPEC §3).

``run_experiment(name, setting="quick", seed=0, out_root="results", overrides=None)`` merges the
experiment's ``QUICK``/``FULL`` settings with the overrides, runs it, and writes
``<out_root>/<NAME>/config.json`` and ``metrics.json`` atomically (figures are written by the
experiment itself). ``build_report(out_root)`` writes ``<out_root>/index.html`` with every figure
and a table of the claims and whether each held.
"""

from __future__ import annotations

import html
import importlib
import json
import pkgutil
import platform
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from fpjax._src import io

__all__ = ["list_experiments", "get_experiment", "run_experiment", "build_report", "DEMO"]

# The README's main command: fast experiments that together show the frequency principle, the
# initialization bias, and Theorem 5.1 (each has its own quick setting).
DEMO = ("fp-1d", "hys2-spectral-bias", "init-bias")

_REQUIRED = ("NAME", "DESCRIPTION", "CLAIM", "QUICK", "FULL", "run")


def _modules() -> dict[str, ModuleType]:
    import experiments

    found = {}
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"experiments.{info.name}")
        if all(hasattr(mod, a) for a in _REQUIRED):
            found[mod.NAME] = mod
    return dict(sorted(found.items()))


def list_experiments() -> dict[str, str]:
    """``{name: one-line description}`` of every experiment module."""
    return {name: mod.DESCRIPTION for name, mod in _modules().items()}


def get_experiment(name: str) -> ModuleType:
    """The experiment module called ``name``; ``ValueError`` listing the known names otherwise."""
    mods = _modules()
    if not isinstance(name, str) or name not in mods:
        raise ValueError(f"unknown experiment {name!r}; known experiments: {', '.join(mods)} "
                         "(see `fpjax list`)")
    return mods[name]


def run_experiment(name: str, setting: str = "quick", *, seed: int = 0, out_root: str | Path = "results",
                   overrides: dict[str, Any] | None = None) -> dict:
    """Run one experiment; return its metrics (also written to ``<out_root>/<name>/metrics.json``)."""
    mod = get_experiment(name)
    if setting not in ("quick", "full"):
        raise ValueError(f"setting must be 'quick' or 'full'; got {setting!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    config = dict(mod.QUICK if setting == "quick" else mod.FULL)
    for k, v in (overrides or {}).items():
        if k not in config:
            raise ValueError(f"unknown setting {k!r} for experiment {name!r}; its settings: {', '.join(config)}")
        config[k] = v
    config["seed"] = seed
    out_dir = io.ensure_writable_dir(Path(out_root) / name, "out")
    import jax

    record = {"experiment": name, "setting": setting, "config": config,
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "platform": {"python": platform.python_version(), "machine": platform.machine(),
                           "jax": jax.__version__, "backend": jax.default_backend(),
                           "devices": len(jax.devices())}}
    io.atomic_write_json(out_dir / "config.json", record)
    t0 = time.perf_counter()
    metrics = mod.run(dict(config), out_dir)
    if not isinstance(metrics, dict) or "claims" not in metrics:
        raise RuntimeError(f"experiment {name} returned no 'claims' list in its metrics")
    metrics = dict(metrics)
    metrics["runtime_s"] = round(time.perf_counter() - t0, 2)
    io.atomic_write_json(out_dir / "metrics.json", metrics)
    return metrics


def _claims_rows(metrics: dict) -> list[tuple[str, str]]:
    rows = []
    for c in metrics.get("claims", []):
        held = c.get("held")
        rows.append((str(c.get("claim", "")), "held" if held is True else ("did not hold" if held is False else str(held))))
    return rows


def build_report(out_root: str | Path = "results") -> Path:
    """Write ``<out_root>/index.html``: per experiment its claim table, key metrics and every PNG."""
    root = Path(out_root)
    if not root.is_dir():
        raise ValueError(f"out_root {str(root)!r} does not exist; run an experiment first (`fpjax run NAME`)")
    sections, summary = [], []
    for exp_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        mfile = exp_dir / "metrics.json"
        if not mfile.exists():
            continue
        metrics = json.loads(mfile.read_text())
        cfg = json.loads((exp_dir / "config.json").read_text()) if (exp_dir / "config.json").exists() else {}
        name = exp_dir.name
        rows = _claims_rows(metrics)
        for claim, verdict in rows:
            summary.append(f"<tr><td><a href='#{html.escape(name)}'>{html.escape(name)}</a></td>"
                           f"<td>{html.escape(claim)}</td><td class='{verdict.replace(' ', '-')}'>{verdict}</td></tr>")
        figs = "".join(f"<figure><img src='{html.escape(name)}/{html.escape(png.name)}' alt='{html.escape(png.stem)}'>"
                       f"<figcaption>{html.escape(png.stem)}</figcaption></figure>"
                       for png in sorted(exp_dir.glob("*.png")))
        evidence = html.escape(json.dumps([c.get("evidence") for c in metrics.get("claims", [])], indent=1)[:4000])
        sections.append(f"<section id='{html.escape(name)}'><h2>{html.escape(name)}</h2>"
                        f"<p>setting: {html.escape(str(cfg.get('setting', '?')))}, runtime "
                        f"{metrics.get('runtime_s', '?')} s</p><details><summary>evidence</summary><pre>{evidence}</pre>"
                        f"</details>{figs}</section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>fpjax results</title><style>"
            "body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:560px}"
            "figure{display:inline-block;margin:4px}td,th{border:1px solid #ccc;padding:4px}"
            ".held{color:green}.did-not-hold{color:#b00}</style></head><body><h1>fpjax: claims of the sources</h1>"
            "<table><tr><th>experiment</th><th>claim</th><th>result</th></tr>" + "".join(summary) + "</table>"
            + "".join(sections) + "</body></html>")
    return io.atomic_write_bytes(root / "index.html", page.encode())
