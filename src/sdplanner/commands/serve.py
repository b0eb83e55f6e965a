"""``sdplanner serve``: the scenario explorer in the browser, on this computer."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdplanner.commands.run import params_arg

__all__ = ["default_scenarios_dir", "handler", "register"]


def default_scenarios_dir() -> Path:
    """Return ``./scenarios`` when it exists, else the shipped scenario files.

    Returns
    -------
    pathlib.Path
        The folder of scenario files the page offers.
    """
    here = Path("scenarios")
    if here.is_dir():
        return here
    from sdplanner.resources import shipped_scenarios_dir

    return shipped_scenarios_dir()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a port number 0-65535, found {text!r}"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, found {port}")
    return port


def register(sub) -> None:
    """Add the ``serve`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "serve",
        help="start the scenario explorer (a local web page) and print its address",
        description=(
            "Start the scenario explorer: a web page on this computer where each lever of the"
            " five paths reruns the model with the fast engine and redraws the projection"
            " against the baseline and the observed points. Works with no network access."
            " API: docs/explorer.md."
        ),
    )
    p.add_argument(
        "--port", type=_port, default=8765, help="TCP port (default 8765; 0: any free port)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only)",
    )
    p.add_argument(
        "--scenarios",
        metavar="DIR",
        help="folder of scenario files offered as starting points (default: ./scenarios)",
    )
    p.add_argument("--model", help="Vensim .mdl file (default: the shipped model)")
    p.add_argument(
        "--params",
        help="parameter file (YAML); default: the shipped calibrated parameters when present",
    )
    p.add_argument(
        "--no-params",
        action="store_true",
        help="use the .mdl defaults, not the shipped calibrated parameters",
    )
    p.add_argument(
        "--engine",
        choices=("batch", "pysd"),
        default="batch",
        help="simulation engine (default batch; pysd takes ~30 s per change)",
    )
    p.add_argument(
        "--ensemble",
        metavar="PATH",
        help="percentiles.csv of sdplanner ensemble (or its folder): draw its bands",
    )
    p.add_argument(
        "--observations",
        metavar="FILE",
        help="observation CSV for the observed points (default: data/seed_figures.csv)",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Build the explorer, listen, and serve until interrupted.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    int
        0 after Ctrl+C.
    """
    from sdplanner.web import Explorer, ExplorerError, make_server

    scenarios = Path(args.scenarios) if args.scenarios else default_scenarios_dir()
    if args.scenarios is None and not scenarios.is_dir():
        raise ExplorerError(
            f"--scenarios: no folder given and {scenarios} does not exist; pass --scenarios DIR,"
            " a folder of scenario files (the repository's scenarios/, for instance)"
        )
    explorer = Explorer(
        scenarios,
        model=args.model,
        params=params_arg(args),
        engine=args.engine,
        observations=args.observations,
        ensemble=args.ensemble,
    )
    server = make_server(explorer, args.host, args.port, quiet=args.quiet)
    try:
        print(
            f"sdplanner explorer: {server.url} (scenarios from {scenarios}; Ctrl+C to stop)",
            flush=True,
        )
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("sdplanner explorer: stopped", flush=True)
    finally:
        server.server_close()
    return 0
