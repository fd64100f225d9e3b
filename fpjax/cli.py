"""Command line of fpjax.

``fpjax list | run NAME... [--quick|--full] [--seed S] [--set KEY=VALUE] [--out DIR] [--distributed]
| report [--out DIR] | demo [--out DIR] | launch --local N COMMAND...``

Settings given with ``--set`` are JSON values checked against the type of the experiment's declared
default (``--set steps=2.5`` is refused for an integer ``steps``). A run writes into a staging
directory and replaces the experiment's results only when it has finished. Every error is one line
on stderr and exit status 2; an interrupt (Ctrl-C) exits with status 130 and leaves the previous
results in place. Set ``FPJAX_DEBUG=1`` to see the traceback of an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


class _UsageError(Exception):
    pass


def _parse_set(items) -> dict:
    """``["k=v", ...]`` → ``{k: JSON value of v}``; a value that is not JSON is taken as a string."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE (VALUE as JSON); got {item!r}")
        k, v = item.split("=", 1)
        if not k:
            raise ValueError(f"--set expects KEY=VALUE with a non-empty KEY; got {item!r}")
        try:
            out[k] = json.loads(v, parse_constant=_no_constant)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _no_constant(name):
    raise ValueError(f"--set values must be finite; got {name}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fpjax", description="Reproduce the frequency-principle experiments.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the experiments")
    r = sub.add_parser("run", help="run experiments")
    r.add_argument("names", nargs="+", help="experiment names (see `fpjax list`) or 'all'")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="setting", action="store_const", const="quick", help="CPU minutes (default)")
    g.add_argument("--full", dest="setting", action="store_const", const="full", help="paper scale (GPU)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="results", help="output root (default: results)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (JSON value)")
    r.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process JAX run (fpjax.distributed.initialize); process 0 writes results",
    )
    rep = sub.add_parser("report", help="build <out>/index.html from the results")
    rep.add_argument("--out", default="results")
    d = sub.add_parser("demo", help="run the demo subset (quick) and build the report")
    d.add_argument("--out", default="results")
    lau = sub.add_parser("launch", help="start N local processes running an fpjax command (multi-process trial)")
    lau.add_argument("--local", type=int, required=True, metavar="N", help="number of local processes")
    lau.add_argument("argv", nargs=argparse.REMAINDER, help="the fpjax command, e.g. run NAME --quick")
    return p


def _run(args) -> int:
    if args.cmd == "launch":
        if args.local < 1:
            raise ValueError(f"--local must be a positive number of processes; got {args.local}")
        argv = list(args.argv)
        if argv and argv[0] == "--":
            argv = argv[1:]
        if not argv:
            raise ValueError("launch needs an fpjax command, e.g. `fpjax launch --local 2 run NAME`")
        from fpjax import distributed

        return int(distributed.launch_local(args.local, argv))

    main_process = True
    if getattr(args, "distributed", False):
        from fpjax import distributed  # before anything touches a JAX backend

        distributed.initialize()
        main_process = bool(distributed.is_main_process())

    from fpjax._src import runner

    if args.cmd == "list":
        for name, desc in runner.list_experiments().items():
            print(f"{name:24s} {desc}")
        return 0
    if args.cmd == "report":
        print(f"report: {runner.build_report(args.out)}")
        return 0
    if args.cmd == "demo":
        names, setting, seed, overrides = list(runner.DEMO), "quick", 0, {}
    else:
        names = list(runner.list_experiments()) if args.names == ["all"] else args.names
        setting, seed, overrides = args.setting or "quick", args.seed, _parse_set(args.set)
    # Fail on a typo or a badly typed setting before spending minutes on the others.
    for name in names:
        exp = runner.get_experiment(name)
        exp.config(setting, {k: v for k, v in overrides.items() if k in exp.quick or len(names) == 1}, seed=seed)
    if overrides and len(names) > 1:
        for k in overrides:
            if not any(k in runner.get_experiment(n).quick for n in names):
                raise ValueError(f"unknown setting {k!r}: none of the experiments {', '.join(names)} has it")
    if main_process:
        from fpjax._src.io import ensure_writable_dir

        ensure_writable_dir(args.out, "out")
    from tqdm.auto import tqdm

    from fpjax.experiment import summarize_claims

    # A progress bar on a terminal only (disable=None), so logs and pipes get plain lines.
    bar = tqdm(names, desc="experiments", unit="exp", disable=None if main_process else True)
    for name in bar:
        bar.set_postfix_str(name)
        exp = runner.get_experiment(name)
        own = {k: v for k, v in overrides.items() if k in exp.quick}
        metrics = runner.run_experiment(name, setting, seed=seed, out_root=args.out, overrides=own, write=main_process)
        if main_process:
            s = summarize_claims(metrics)
            tqdm.write(f"{name}: {metrics['runtime_s']} s; {s.held} of {s.total} claims held")
    if main_process:
        page = runner.build_report(args.out)
        print(f"results in {args.out}/; open {page} for every figure and the claim table")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``fpjax`` command; returns the exit status (0, 2 on error, 130 on interrupt)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["ledger"]:  # `fpjax ledger --help`: the reproduction ledger has its own parser
        from fpjax._src import ledger

        return ledger.main(argv[1:])
    try:
        args = _parser().parse_args(argv)
    except _UsageError as err:
        print(str(err), file=sys.stderr)
        return EXIT_ERROR
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(
            "fpjax: interrupted; results of unfinished runs were discarded, earlier results are kept", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except Exception as err:  # noqa: BLE001 - the command line reports every error as one line
        if os.environ.get("FPJAX_DEBUG"):
            raise
        msg = " ".join(str(err).split()) or type(err).__name__
        kind = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
        print(f"fpjax: error: {kind}{msg}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
