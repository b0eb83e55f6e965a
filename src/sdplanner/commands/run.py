"""``sdplanner run SCENARIO --out DIR``: one scenario, results.csv and manifest.json.

With ``--table-format netcdf`` the results are also written as ``results.nc`` (one variable
per model variable, dimensions ``scenario, region, year``, units in attributes), with
``xlsx`` as ``tables.xlsx``. The printed summary shows the spec's headline outputs for the
aggregate in display units.
"""

from __future__ import annotations

import argparse
import textwrap

from sdplanner.display import format_number
from sdplanner.output_set import OutputSet
from sdplanner.resources import calibration_name
from sdplanner.results import write_csv, write_manifest
from sdplanner.run import prepare_run, run_prepared
from sdplanner.tables import TABLE_FORMATS, write_tables


def add_table_format(parser: argparse.ArgumentParser) -> None:
    """Add ``--table-format`` to a subcommand.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--table-format",
        choices=TABLE_FORMATS,
        default="csv",
        help="tables also as NetCDF (<table>.nc, opened by xarray) or Excel (tables.xlsx);"
        " the CSV files are always written (default: csv)",
    )


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
    add_table_format(p)
    add_common_run_options(p)
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, then run, then write the outputs as one set."""
    inputs = prepare_run(args.scenario, model=args.model, params=params_arg(args))
    outputs = OutputSet(args.out)
    engine = resolve_engine(args.engine)
    frame = run_prepared(inputs, engine=engine)
    scen = inputs.scenario
    with outputs:
        write_csv(frame, outputs.path / "results.csv")
        extra = write_tables({"results": (frame, None)}, outputs.path, args.table_format)
        write_manifest(
            outputs.path,
            model=inputs.model,
            command="run",
            inputs={"scenario": scen.files, "parameters": inputs.params_files},
            engine=engine,
            extra={
                "scenarios": [scen.name],
                "scenario_titles": {scen.name: scen.display_title},
                "calibration": calibration_name(inputs.params_files),
                "files": ["results.csv", *extra, "manifest.json"],
            },
        )
        out = outputs.commit()
    print(f"scenario {scen.display_title!r}: {len(frame):,} rows -> {out / 'results.csv'}")
    for name in extra:
        print(f"also {out / name}")
    print(f"calibration: {calibration_name(inputs.params_files)}")
    print(_headline(frame, inputs.model.spec))
    return 0


def _headline(frame, spec) -> str:
    """Return the headline outputs for the aggregate at the summary years, in display units."""
    region = spec.dimension.aggregate if spec.dimension is not None else ""
    present = set(frame["year"])
    first = round(frame["year"].min())
    years = [y for y in dict.fromkeys((first, *spec.summary_years)) if y in present]
    rows = frame[frame.year.isin(years)]
    lines = ["  ".join([(region or "results").ljust(44), *(f"{y}".rjust(10) for y in years)])]
    units = []
    for i, var in enumerate(spec.view("headline"), start=1):
        mine = rows[rows.variable == var]
        where = region if (mine.region == region).any() else None
        if where is None and len(mine):
            where = mine.region.iloc[0]  # no aggregate: the first element, named
        sub = mine[mine.region == where].set_index("year")["value"]
        if sub.empty:
            continue
        disp = spec.display(var)
        label = f"({i}) {disp.label}" + ("" if where == region else f", {where}")
        label = label if len(label) <= 44 else label[:41] + "..."
        cells = [format_number(sub.get(y) * disp.scale).rjust(10) for y in years]
        lines.append("  ".join([label.ljust(44), *cells]))
        units.append(f"({i}) {disp.unit}")
    lines.extend(textwrap.wrap("Units: " + "; ".join(units), 100))
    return "\n".join(lines)
