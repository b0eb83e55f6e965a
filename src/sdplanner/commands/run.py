"""``sdplanner run SCENARIO --out DIR``: one scenario, results.csv and manifest.json."""

from __future__ import annotations

import argparse

from sdplanner.output_set import OutputSet
from sdplanner.resources import calibration_name
from sdplanner.results import write_csv, write_manifest
from sdplanner.run import prepare_run, run_prepared


def add_common_run_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--params`` and ``--engine`` to a subcommand.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument("--model", help="Vensim .mdl file (default: the shipped model)")
    parser.add_argument(
        "--params",
        help="parameter file (YAML), layered on the shipped calibrated parameters (with"
        " --no-params: on the .mdl values)",
    )
    parser.add_argument(
        "--no-params",
        action="store_true",
        help="use the .mdl defaults, not the shipped calibrated parameters",
    )
    parser.add_argument(
        "--engine",
        choices=("batch", "pysd"),
        default=None,
        help="simulation engine: the fast batch engine (default when available) or PySD",
    )


def resolve_engine(choice: str | None) -> str:
    """Return the engine to use: the user's choice, else batch when available, else PySD.

    Parameters
    ----------
    choice : str or None
        ``--engine`` as given.

    Returns
    -------
    str
        ``"batch"`` or ``"pysd"``.
    """
    if choice:
        return choice
    try:
        import sdplanner.engine.batch  # noqa: F401
    except ImportError:
        return "pysd"
    return "batch"


def params_arg(args: argparse.Namespace):
    """Return the ``params`` argument of `prepare_run` from parsed options."""
    if getattr(args, "no_params", False):
        return [args.params] if args.params else False
    return args.params


def register(sub) -> None:
    """Add the ``run`` subcommand."""
    p = sub.add_parser("run", help="run one scenario and write results.csv and manifest.json")
    p.add_argument("scenario", help="scenario file (YAML)")
    p.add_argument("--out", required=True, help="output directory")
    add_common_run_options(p)
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, then run, then write the outputs as one set."""
    inputs = prepare_run(args.scenario, model=args.model, params=params_arg(args))
    outputs = OutputSet(args.out)
    engine = resolve_engine(args.engine)
    frame = run_prepared(inputs, engine=engine)
    with outputs:
        write_csv(frame, outputs.path / "results.csv")
        write_manifest(
            outputs.path,
            model=inputs.model,
            command="run",
            inputs={"scenario": inputs.scenario.files, "parameters": inputs.params_files},
            engine=engine,
            extra={
                "scenarios": [inputs.scenario.name],
                "calibration": calibration_name(inputs.params_files),
            },
        )
        out = outputs.commit()
    agg = frame[(frame.region == "All 14 regions") & (frame.year.isin([2010, 2030, 2050]))]
    table = agg[
        agg.variable.isin(["urbanization_rate", "rural_income_per_capita", "poverty_incidence"])
    ]
    print(f"scenario {inputs.scenario.name!r}: {len(frame)} rows -> {out / 'results.csv'}")
    print(f"calibration: {calibration_name(inputs.params_files)}")
    print(
        table.pivot(index="variable", columns="year", values="value").to_string(
            float_format="{:.4g}".format
        )
    )
    return 0
