"""What every subcommand shares: its error type and the words it uses for Python's."""

from __future__ import annotations


class CommandError(Exception):
    """An error whose message is in the command line's terms (its flags, not Python's)."""


def presets() -> list[str]:
    from grapa.models import PRESETS

    return sorted(PRESETS)


def cli_words(error: Exception, label_flag: str = "--label") -> str:
    """A library error's message with its Python argument names as the CLI's flags."""
    return (str(error).replace("pass label=None", f"pass {label_flag} -1")
            .replace("batch size", "--batch-size"))


def add_ray_flag(parser, what: str) -> None:
    """`--ray [ADDRESS]`: run `what` as Ray tasks, locally or on a cluster."""
    parser.add_argument(
        "--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
        help=f"run {what} on Ray: alone, on a local Ray instance started here on all cores; "
        "with ADDRESS, on that Ray cluster (e.g. auto, ray://head:10001). Needs "
        'pip install "grapa-keras[ray]"')


def ray_address(args):
    """The `--ray` flag's value (None without it), Ray checked installed, in CLI words."""
    if args.ray is None:
        return None
    from pathlib import Path

    if Path(args.ray).exists():  # `--ray data.h5 ...`: nargs="?" took a file for an address
        raise CommandError(f"--ray took {args.ray!r}, a file, for a Ray address: put --ray "
                           "after the files, or write --ray=ADDRESS.")
    if getattr(args, "workers", 1) > 1:
        raise CommandError(f"pass --ray or --workers, not both (got --workers {args.workers}).")
    from grapa.parallel import RayNotInstalledError, import_ray

    try:
        import_ray(instead="run without --ray")
    except RayNotInstalledError as error:
        raise CommandError(str(error)) from None
    return args.ray
