"""Runnable experiments of SPEC §3, one module each; run them with ``fpjax run NAME``.

Contract of an experiment module ``experiments/<name_with_underscores>.py``:

* ``NAME`` (the dashed name of SPEC §3, e.g. ``"hys5-flat-minima"``), ``DESCRIPTION`` (one line),
  ``CLAIM`` (the source's claim, in words);
* ``QUICK`` and ``FULL``: dicts of settings (plain JSON types); ``QUICK`` runs on 2 CPU cores in
  at most ~1-3 minutes, ``FULL`` is the paper scale;
* ``run(config: dict, out_dir: pathlib.Path) -> dict``: does the work for the merged config (it
  always has the keys of ``QUICK`` plus ``"seed"``), saves PNG figures into ``out_dir`` with
  ``fpjax._src.io.save_figure`` and returns the metrics dict. The metrics have a ``"claims"`` list of
  ``{"claim": str, "held": bool, "evidence": {...numbers...}}`` computed from the data, never written
  in by hand.

The runner (``fpjax._src.runner.run_experiment``) writes ``config.json`` and ``metrics.json``
atomically into ``results/<NAME>/``.
"""
