"""Command line: ``fpjax list | run NAME [--quick|--full] [--seed S] [--out DIR] | report | demo``."""

from __future__ import annotations

import argparse
import json
import sys


def _parse_set(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE (VALUE as JSON); got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv=None) -> int:
    from fpjax._src import runner

    p = argparse.ArgumentParser(prog="fpjax", description="Reproduce the frequency-principle experiments.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the experiments")
    r = sub.add_parser("run", help="run experiments")
    r.add_argument("names", nargs="+", help="experiment names (see `fpjax list`) or 'all'")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="setting", action="store_const", const="quick", help="CPU minutes (default)")
    g.add_argument("--full", dest="setting", action="store_const", const="full", help="paper scale (GPU)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="results", help="output root (default: results)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (JSON value)")
    rep = sub.add_parser("report", help="build <out>/index.html from the results")
    rep.add_argument("--out", default="results")
    d = sub.add_parser("demo", help="run the demo subset (quick) and build the report")
    d.add_argument("--out", default="results")
    args = p.parse_args(argv)

    try:
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
        for name in names:
            runner.get_experiment(name)  # fail on a typo before spending minutes on the others
        from tqdm.auto import tqdm

        bar = tqdm(names, desc="experiments", unit="exp")
        for name in bar:
            bar.set_postfix_str(name)
            metrics = runner.run_experiment(name, setting, seed=seed, out_root=args.out, overrides=overrides)
            verdicts = ", ".join(f"{'held' if c.get('held') else 'NOT held'}" for c in metrics["claims"])
            tqdm.write(f"{name}: {metrics['runtime_s']} s; claims: {verdicts}")
        page = runner.build_report(args.out)
        print(f"results in {args.out}/; open {page} for every figure and the claim table")
        return 0
    except ValueError as err:
        print(f"fpjax: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
