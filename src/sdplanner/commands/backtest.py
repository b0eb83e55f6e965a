"""``sdplanner backtest --data CSV --spec SPEC --fit-until YEAR --scenario FILE --out DIR``.

Calibrates on the observations up to YEAR with the scenario's policies in force, projects,
and scores every later observation that maps to a model variable (`sdplanner.calibration.
backtest`). Everything is validated before the first model run: bad data or spec files, no
observation after YEAR, or YEAR outside the data are one line on stderr and exit code 2,
with the output folder untouched.
"""

from __future__ import annotations

import argparse

from sdplanner.commands.calibrate import _count, add_input_options, load_inputs

__all__ = ["handler", "register"]


def _year(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole year, found {text!r}") from None


def register(sub) -> None:
    """Add the ``backtest`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "backtest",
        help="calibrate on figures up to a year, project, and score the later figures",
        description=(
            "Calibrate the spec on the observations dated up to --fit-until (with the"
            " scenario's levers in force), project to the last later observation, and score"
            " every later observation that maps to a model variable against a 95 % band"
            " (bootstrap parameter sets plus observation noise): scores.csv, summary.csv,"
            " plots/, report.txt, manifest.json. Format: docs/calibration.md."
        ),
    )
    p.add_argument("--data", required=True, nargs="+", action="extend", metavar="CSV")
    p.add_argument("--spec", required=True, metavar="SPEC", help="calibration spec (YAML)")
    p.add_argument("--fit-until", required=True, type=_year, metavar="YEAR")
    p.add_argument("--scenario", required=True, metavar="FILE", help="the policies in force (YAML)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--starts", type=_count, default=8, metavar="N", help="starts (default 8)")
    p.add_argument(
        "--bootstrap",
        type=_count,
        default=200,
        metavar="B",
        help="bootstrap parameter sets of the band (at least 200; default 200)",
    )
    add_input_options(
        p,
        "parameter file under the estimated constants, e.g. a calibration on figures up to"
        " YEAR only (default: the .mdl values)",
    )
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate the inputs, backtest, write the outputs and print the summary.

    Parameters
    ----------
    args : argparse.Namespace
        ``data, spec, fit_until, scenario, out, seed, starts, bootstrap, model, params,
        areas, no_plots``.

    Returns
    -------
    int
        0 on success.
    """
    from sdplanner.calibration.backtest import MIN_BOOTSTRAP, backtest
    from sdplanner.calibration.backtest_outputs import write_backtest
    from sdplanner.errors import CalibrationError

    if args.bootstrap < MIN_BOOTSTRAP:
        raise CalibrationError(
            f"--bootstrap {args.bootstrap}: expected at least {MIN_BOOTSTRAP} parameter sets"
            " for the band"
        )
    model, _, problem, outputs, engine = load_inputs(args, until=args.fit_until)
    print(
        f"backtest: fitting {problem.n_parameters} values to {len(problem.rows)} observations"
        f" up to {args.fit_until}, scoring {len(problem.held_out)} later ones;"
        f" {args.bootstrap} bootstrap sets, seed {args.seed}",
        flush=True,
    )
    bt = backtest(problem, engine, starts=args.starts, bootstrap=args.bootstrap, seed=args.seed)
    with outputs:
        write_backtest(
            bt,
            outputs.path,
            model=model,
            data=args.data,
            spec=args.spec,
            scenario=args.scenario,
            params=args.params,
            engine=engine.name,
            starts=args.starts,
            bootstrap=args.bootstrap,
            seed=args.seed,
            plots=not args.no_plots,
        )
        out = outputs.commit()
    print(
        f"{int(bt.scores.inside_band.sum())} of {len(bt.scores)} later figures inside their"
        f" 95 % band; {len(bt.unscored)} not scored -> {out}"
    )
    print(bt.summary.to_string(index=False, float_format="{:.4g}".format))
    return 0
