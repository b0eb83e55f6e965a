"""``python -m sdplanner``: the command line, as the ``sdplanner`` script."""

from sdplanner.cli import entry_point

if __name__ == "__main__":
    entry_point()
