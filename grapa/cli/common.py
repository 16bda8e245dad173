"""What every subcommand shares: its error type and the words it uses for Python's."""

from __future__ import annotations


class CommandError(Exception):
    """An error whose message is in the command line's terms (its flags, not Python's)."""


def presets() -> list[str]:
    from grapa.models import PRESETS

    return sorted(PRESETS)


def cli_words(error: Exception, label_flag: str = "--label") -> str:
    """A library error's message with its Python argument names as the CLI's flags."""
    return str(error).replace("pass label=None", f"pass {label_flag} -1")
