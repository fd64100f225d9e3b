"""Command line of fpjax.

``fpjax [--verbose] COMMAND``, with COMMAND one of

* ``list [NAME...]``: the experiments; with names, each one's claim, source and settings;
* ``run NAME... [--quick|--cpu|--full] [--seed S] [--set KEY=VALUE] [--out DIR] [--distributed]``
  (``fpjax run NAME --help`` shows the experiment's settings);
* ``report [--out DIR]``, ``demo [--out DIR]``;
* ``launch --local N COMMAND...``: N local processes of one distributed ``fpjax`` command.

``fpjax --help`` and ``fpjax list`` import no JAX: the experiments' declarations are read from their
sources. Settings given with ``--set`` are JSON values checked against the type of the experiment's
declared default and the naming rules of :mod:`fpjax._src.experiment_spec` (``--set steps=2.5`` and
``--set n_seeds=0`` are refused) before anything runs. Before running, the command gives JAX one CPU
device per core (:func:`fpjax.set_host_device_count`; ``FPJAX_HOST_DEVICES=n`` asks for ``n``,
``FPJAX_NO_HOST_DEVICES=1`` leaves JAX's default).

A run writes into a staging directory and replaces the experiment's results only when it has finished.
Progress goes to stderr through the ``logging`` logger ``"fpjax"``: a bar on a terminal, a plain line
every ``FPJAX_PROGRESS_EVERY`` seconds (default 30) otherwise, with an ETA when an earlier run of the
same settings is in the results folder; ``--verbose`` adds every stage. Every error is one line on
stderr and exit status 2; Ctrl-C at any moment exits with status 130 and SIGTERM with 143, removing
the unfinished run's staging directory and leaving the previous results in place (the first few
hundredths of a second, before Python has loaded ``fpjax``, are Python's own). Set ``FPJAX_DEBUG=1``
to see the traceback of an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
SCALES = ("quick", "cpu", "full")


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


# --------------------------------------------------------------------------------------------------
# describing experiments (no JAX)


def _cell(v, width: int = 28) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def describe(decl) -> str:
    """An experiment's description, claim, source, settings (type and value per scale) and figures."""
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="  ")
    scales = decl.scales()
    types = decl.setting_types()
    rows = [["setting", "type", *scales]] + [
        [
            k,
            " or ".join(t.split(" ", 1)[-1] if t != "null" else t for t in types[k]),
            *(_cell(s[k]) for s in scales.values()),
        ]
        for k in decl.quick
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    parts = [
        f"{decl.name}: {decl.description}",
        "claim:\n" + wrap.fill(decl.claim),
        "source:\n" + wrap.fill(decl.source),
        f"settings (override with --set KEY=VALUE, VALUE as JSON; --{' / --'.join(scales)} choose the column):\n"
        + table,
    ]
    if decl.figures:
        parts.append("figures:\n" + "\n".join(wrap.fill(f"{k}: {v}") for k, v in decl.figures.items()))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# the commands: each is (help, add its arguments, run it); `_COMMANDS` below lists them


def _args_list(p):
    p.add_argument("names", nargs="*", metavar="NAME", help="show these experiments' claim, source and settings")


def _cmd_list(args) -> int:
    from fpjax._src import experiment_registry as registry

    decls = registry.declarations()
    if not args.names:
        for name, decl in decls.items():
            print(f"{name:24s} {decl.description}")
        return 0
    for name in args.names:
        registry.lookup(name, decls)
    print("\n\n".join(describe(decls[n]) for n in args.names))
    return 0


def _args_run(p):
    p.add_argument("names", nargs="*", metavar="NAME", help="experiment names (see `fpjax list`) or 'all'")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="setting", action="store_const", const="quick", help="CPU minutes (default)")
    g.add_argument("--cpu", dest="setting", action="store_const", const="cpu", help="the CPU scale, where declared")
    g.add_argument("--full", dest="setting", action="store_const", const="full", help="paper scale (GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results", help="output root (default: results)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (JSON value)")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process JAX run (fpjax.distributed.initialize); process 0 writes results",
    )


def _cmd_run(args) -> int:
    from fpjax._src import experiment_registry as registry

    decls = registry.declarations()
    if args.help:
        print(args.parser.format_help().rstrip())
        for name in args.names:
            registry.lookup(name, decls)
            print("\n" + describe(decls[name]))
        return 0
    if not args.names:
        raise _UsageError("fpjax run: give at least one experiment NAME (see `fpjax list`) or 'all'")
    names = list(decls) if args.names == ["all"] else args.names
    return _run_experiments(args, decls, names, args.setting or "quick", args.seed, _parse_set(args.set))


def _args_out(p):
    p.add_argument("--out", default="results", help="output root (default: results)")


def _cmd_report(args) -> int:
    from fpjax._src import runner

    print(f"report: {runner.build_report(args.out)}")
    return 0


def _args_demo(p):
    _args_out(p)
    p.add_argument("--distributed", action="store_true", help="join a multi-process JAX run")


def _cmd_demo(args) -> int:
    from fpjax._src import experiment_registry as registry

    return _run_experiments(args, registry.declarations(), list(registry.DEMO), "quick", 0, {})


def _args_launch(p):
    p.add_argument("--local", type=int, required=True, metavar="N", help="number of local processes")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="the fpjax command, e.g. run NAME --quick")


def _cmd_launch(args) -> int:
    if args.local < 1:
        raise ValueError(f"--local must be a positive number of processes; got {args.local}")
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise ValueError("launch needs an fpjax command, e.g. `fpjax launch --local 2 run NAME`")
    if argv[0] in ("run", "demo") and "--distributed" not in argv:
        argv.insert(1, "--distributed")  # the N processes are one job, not N independent runs
    from fpjax import distributed

    return int(distributed.launch_local(args.local, argv))


def _cmd_ledger(args) -> int:
    from fpjax._src import ledger

    return int(ledger.main(list(args.ledger_args)))


def _args_ledger(p) -> None:
    p.add_argument("ledger_args", nargs="*", help="see `fpjax ledger --help`")


_COMMANDS = {
    "list": ("list the experiments (with NAMEs: their claim, source and settings)", _args_list, _cmd_list),
    "run": ("run experiments (`fpjax run NAME --help` shows NAME's settings)", _args_run, _cmd_run),
    "report": ("build <out>/index.html from the results", _args_out, _cmd_report),
    "demo": ("run the demo subset (quick) and build the report", _args_demo, _cmd_demo),
    "launch": ("start N local processes running one distributed fpjax command", _args_launch, _cmd_launch),
    "ledger": ("the reproduction ledger: import results, regenerate docs/ledger.md", _args_ledger, _cmd_ledger),
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log every stage (DEBUG)"
    )
    p = _Parser(prog="fpjax", description="Reproduce the frequency-principle experiments.", parents=[common])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, (text, add_arguments, run) in _COMMANDS.items():
        s = sub.add_parser(name, help=text, description=text, parents=[common], add_help=name != "run")
        if name == "run":  # its --help also describes the named experiments
            s.add_argument("-h", "--help", action="store_true", help="show this help (and NAME's settings)")
        add_arguments(s)
        s.set_defaults(handler=run, parser=s)
    return p


# --------------------------------------------------------------------------------------------------
# running


def _check_settings(decls, names, setting, seed, overrides) -> None:
    """Fail on a typo or a badly typed setting before spending minutes on the others (no JAX)."""
    from fpjax._src import experiment_registry as registry
    from fpjax._src.experiment_spec import did_you_mean

    for name in names:
        registry.lookup(name, decls)
    for name in names:
        d = decls[name]
        d.config(setting, {k: v for k, v in overrides.items() if k in d.quick or len(names) == 1}, seed=seed)
    if len(names) > 1:
        known = {k for n in names for k in decls[n].quick}
        for k in overrides:
            if k not in known:
                raise ValueError(
                    f"unknown setting {k!r}{did_you_mean(k, known)}: none of the experiments {', '.join(names)} has it"
                )


def _start_jax(distributed_run: bool) -> bool:
    """One CPU device per core, then (``--distributed``) join the job; True in the writing process."""
    import fpjax

    fpjax.set_host_device_count()  # FPJAX_HOST_DEVICES=n asks for n, FPJAX_NO_HOST_DEVICES=1 for none
    if not distributed_run:
        return True
    from fpjax import distributed

    distributed.initialize()
    return bool(distributed.is_main_process())


def _run_experiments(args, decls, names, setting, seed, overrides) -> int:
    from fpjax._src import log
    from fpjax._src.log import logger

    log.configure(getattr(args, "verbose", False))
    _check_settings(decls, names, setting, seed, overrides)
    main_process = _start_jax(getattr(args, "distributed", False))
    from fpjax._src import io, runner
    from fpjax._src.experiment import summarize_claims
    from fpjax._src.log import Progress, previous_runtime

    if main_process:
        io.ensure_writable_dir(args.out, "out")
    for i, name in enumerate(names):
        d = decls[name]
        own = {k: v for k, v in overrides.items() if k in d.quick}
        if len(names) > 1:
            logger.info("experiment %d of %d: %s", i + 1, len(names), name)
        expected = previous_runtime(args.out, name, d.config(setting, own, seed=seed)) if main_process else None
        with Progress(name, expected, enabled=main_process):
            metrics = runner.run_experiment(
                name, setting, seed=seed, out_root=args.out, overrides=own, write=main_process
            )
        if main_process:
            s = summarize_claims(metrics)
            print(f"{name}: {metrics['runtime_s']} s; {s.held} of {s.total} claims held", flush=True)
    if main_process:
        page = runner.build_report(args.out)
        print(f"results in {args.out}/; open {page} for every figure and the claim table")
    return 0


def main(argv=None, *, _ignore_signals_on_exit: bool = False) -> int:
    """Entry point of the ``fpjax`` command; returns the exit status (0, 2 on error, 130 on interrupt)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["ledger"]:  # its options (`--import`, `--scale`, `--check`) belong to its own parser
        from fpjax._src import ledger

        return int(ledger.main(argv[1:]))
    from fpjax._src.signals import ExitOnSignals

    handles = _handles_signals(argv)
    with ExitOnSignals(ignore_on_exit=_ignore_signals_on_exit) if handles else contextlib.nullcontext():
        try:
            args = _parser().parse_args(argv)
            return args.handler(args)
        except _UsageError as err:
            print(str(err), file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:  # only where ExitOnSignals is not active (e.g. `launch`)
            print(
                "fpjax: interrupted; results of unfinished runs were discarded, earlier results are kept",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # the reader of stdout left (e.g. `fpjax list | head`)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except SystemExit:
            raise
        except Exception as err:  # noqa: BLE001 - the command line reports every error as one line
            if os.environ.get("FPJAX_DEBUG"):
                raise
            msg = " ".join(str(err).split()) or type(err).__name__
            kind = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
            print(f"fpjax: error: {kind}{msg}", file=sys.stderr)
            return EXIT_ERROR


def _handles_signals(argv) -> bool:
    """``launch`` forwards Ctrl-C to its processes and waits for them: it keeps Python's handling."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return next((a for a in argv if not a.startswith("-")), None) != "launch"


if __name__ == "__main__":
    sys.exit(main())
