"""``sdplanner calibrate --data CSV --spec SPEC --out DIR``: fit parameters to observations.

Everything is validated (data, spec, output directory) before the first model run; bad input
is one line on stderr and exit code 2 (`sdplanner.errors.DataError`, `CalibrationError`).
"""

from __future__ import annotations

import argparse

__all__ = ["add_input_options", "base_layer", "handler", "load_inputs", "register"]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, found {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, found {value}")
    return value


def add_input_options(p, params_help: str) -> None:
    """Add ``--model``, ``--params``, ``--areas`` and ``--no-plots`` (calibrate, backtest).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    params_help : str
        Help text of ``--params``.
    """
    p.add_argument("--model", help="Vensim .mdl file (default: the shipped model)")
    p.add_argument("--params", metavar="FILE", help=params_help)
    p.add_argument("--areas", metavar="CSV", help="area mapping (default: data/area_mapping.csv)")
    p.add_argument("--no-plots", action="store_true", help="do not write plots/")


def base_layer(model, params, scenario):
    """Return the constants under the estimated ones: a parameter file, then a scenario.

    Parameters
    ----------
    model : ModelInfo
        The model.
    params, scenario : path-like or None
        ``--params`` and ``--scenario``.

    Returns
    -------
    dict or None
        PySD name -> value, or None when neither is given.
    """
    from sdplanner.scenario import load_parameter_file, load_scenario, merge_params

    layers = [load_parameter_file(params, model)] if params else []
    if scenario:
        layers.append(load_scenario(scenario, model).to_params(model))
    return merge_params(*layers) if layers else None


def load_inputs(args: argparse.Namespace, until: int | None = None):
    """Validate a calibration's inputs and output folder before the first model run.

    Parameters
    ----------
    args : argparse.Namespace
        ``data, spec, out, model, params, scenario, areas`` (calibrate, backtest).
    until : int, optional
        Last year of the observations fitted (year); all when omitted.

    Returns
    -------
    model : ModelInfo
    areas : mapping
        The area mapping (`sdplanner.calibration.problem.area_mapping`).
    problem : CalibrationProblem
    outputs : OutputSet
        The output folder, not yet written.
    engine : BatchEngine
    """
    from sdplanner.calibration import load_problem
    from sdplanner.calibration.problem import area_mapping
    from sdplanner.engine.batch import BatchEngine
    from sdplanner.model import load_model
    from sdplanner.output_set import OutputSet

    model = load_model(args.model)
    areas = area_mapping(model, args.areas)
    base = base_layer(model, args.params, args.scenario)
    problem = load_problem(args.data, args.spec, model, areas=areas, base_params=base, until=until)
    outputs = OutputSet(args.out)
    return model, areas, problem, outputs, BatchEngine.from_mdl(model.path)


def register(sub) -> None:
    """Add the ``calibrate`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "calibrate",
        help="fit model constants to observations, with intervals and fit statistics",
        description=(
            "Fit the constants a calibration spec names to the observations of a long CSV"
            " (indicator, area, year, value[, sigma][, weight]) by weighted least squares"
            " from a seeded Latin hypercube of starts; write parameters.csv (profile and"
            " bootstrap intervals), fit.csv, calibrated.params.yaml, identifiability.txt,"
            " report.txt, plots/ and manifest.json. Spec format: docs/calibration.md."
        ),
    )
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        action="extend",
        metavar="CSV",
        help="observations (long CSV); several files are used together",
    )
    p.add_argument("--spec", required=True, metavar="SPEC", help="calibration spec (YAML)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--starts",
        type=_count,
        default=20,
        metavar="N",
        help="Latin-hypercube starts, besides the .mdl values (default 20)",
    )
    p.add_argument(
        "--bootstrap",
        type=_count,
        default=0,
        metavar="B",
        help="residual-bootstrap refits for a second set of intervals (default 0: none)",
    )
    add_input_options(
        p,
        "parameter file under the estimated constants; they start from its values"
        " (default: the .mdl values)",
    )
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="scenario whose levers and parameters run under the estimated constants (the"
        " policies in force in the observed years; default: none)",
    )
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate the inputs, calibrate, write the outputs and print a summary.

    Parameters
    ----------
    args : argparse.Namespace
        ``data, spec, out, seed, starts, bootstrap, model, params, scenario, areas,
        no_plots``.

    Returns
    -------
    int
        0 on success.
    """
    from sdplanner.calibration import calibrate, write_outputs

    model, areas, problem, outputs, engine = load_inputs(args)
    print(
        f"calibrating {problem.n_parameters} values to {len(problem.rows)} observations"
        f" ({len(problem.skipped)} rows skipped, {len(problem.ignored)} ignored: see"
        f" report.txt); {args.starts} starts, {args.bootstrap} bootstrap refits, seed {args.seed}",
        flush=True,
    )
    for row in problem.skipped:
        print(f"  skipped {row.describe()}")
    result = calibrate(
        problem, engine, starts=args.starts, bootstrap=args.bootstrap, seed=args.seed
    )
    with outputs:
        write_outputs(
            result,
            outputs.path,
            model=model,
            data=args.data,
            spec=args.spec,
            engine=engine.name,
            starts=args.starts,
            bootstrap=args.bootstrap,
            plots=not args.no_plots,
            params=args.params,
            scenario=args.scenario,
            areas=areas,
        )
        out = outputs.commit()
    table = result.parameters_table()
    print(
        f"objective {result.best.deviance:.4g}; {result.n_runs} model runs in"
        f" {result.n_calls} batches, {result.wall_time:.1f} s -> {out}"
    )
    print(table.to_string(index=False, float_format="{:.4g}".format))
    idf = result.identifiability
    if idf.at_bound or idf.pairs or idf.undetermined:
        print(
            f"identifiability: {len(idf.at_bound)} at a bound, {len(idf.pairs)} correlated"
            f" pairs, {len(idf.undetermined)} not determined by the data: see"
            f" {out / 'identifiability.txt'}"
        )
    return 0
