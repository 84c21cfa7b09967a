"""The typer application and what every command shares: one-line errors, option validators.

Bad input anywhere (an unparsable or out-of-range option, a library ValueError, a missing
file) prints one line, `error: ...`, to stderr and exits with code 2; a fault of the machine
(scaling.errors.EnvironmentFault, OSError such as a read-only or full disk, MemoryError) one
line and exit 1; Ctrl-C one line and exit 130; never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from scaling.cli import progress
from scaling.cli.render import Format  # noqa: F401  (re-exported: every command's --format)
from scaling.cli.render import stdout_to_stderr
from scaling.errors import EnvironmentFault, install_hint

try:  # typer >= 0.28 vendors click as typer._click (and does not install click itself)
    from typer._click import ClickException, echo
except ImportError:  # older typer depends on click
    from click import ClickException, echo  # type: ignore[assignment,no-redef]

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 1
EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shells' exit status of a command stopped by Ctrl-C."""
INTERRUPTED = "interrupted; what finished is kept, and running the command again resumes the rest"


class _OneLineErrors(TyperGroup):
    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        progress.install()  # library warnings: one line each, said once
        if not (sys.argv[1:] if args is None else list(args)):
            args = ["--help"]  # bare `scaling`: its help, exit 0 (click's no_args_is_help exits 2)
        given = list(sys.argv[1:] if args is None else args)
        for i, arg in enumerate(given):  # no file, option or URI holds one; os calls fail "embedded null byte"
            if "\x00" in str(arg):
                where = given[i - 1] if i and str(given[i - 1]).startswith("-") else f"argument {i + 1}"
                _fail(f"{where}: {arg!r} contains a NUL byte", EXIT_BAD_INPUT)
        try:
            with stdout_to_stderr() if _prints_document(given) else contextlib.nullcontext():
                result = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                      standalone_mode=False, **extra)
        except typer.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # Ctrl-C, where typer lets click turn it into Abort
                _fail(INTERRUPTED, EXIT_INTERRUPTED)
            _fail("aborted", 1)
        except ClickException as exc:  # parsing: unknown option, bad value, missing argument
            _fail(exc.format_message(), EXIT_BAD_INPUT)
        except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            _fail(str(exc), EXIT_BAD_INPUT)
        except EnvironmentFault as exc:
            _fail(str(exc), EXIT_ENVIRONMENT)
        except OSError as exc:  # permissions, a full or read-only disk: the machine, not the input
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", EXIT_ENVIRONMENT)
        except MemoryError:
            _fail("out of memory: this machine cannot hold what the command asked for; ask for less", EXIT_ENVIRONMENT)
        except ModuleNotFoundError as exc:  # an optional extra the command needs is not installed
            extra = _EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            _fail(f"this command needs {exc.name}: {install_hint(extra)}", EXIT_BAD_INPUT)
        code = result if isinstance(result, int) else 0
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code without a word
            _fail(INTERRUPTED, EXIT_INTERRUPTED)
        if standalone_mode:
            sys.exit(code)
        return code


    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command's first sentence in full (click cuts it to fit one line with '...')."""
        rows = [(name, command.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def examples(*commands: str) -> str:
    """A command's help epilog: its examples, printed as written (click's \\b keeps the lines)."""
    assert all(command.startswith("scaling ") for command in commands)
    return "\b\nExamples:\n" + "\n".join(f"  {command}" for command in commands)


def _prints_document(args: list[str]) -> bool:
    """Whether the command line asks for a json or csv document on stdout (and not for help)."""
    if "--help" in args:
        return False
    pairs = zip(args, args[1:] + [""])
    return "--json" in args or any(a == "--format" and b in ("json", "csv") or a in ("--format=json", "--format=csv")
                                   for a, b in pairs)


_EXTRAS = {"torch": "train", "ray": "ray", "mlflow": "mlflow", "sqlalchemy": "mlflow", "alembic": "mlflow",
           "tensorboard": "tensorboard", "wandb": "wandb", "yaml": "wandb"}
"""Optional dependencies and the extra that installs each (pyproject.toml)."""


FLAGS = {"price_per_gpu_hour": "--price-per-gpu-hour", "hardware": "--gpu", "params": "--params",
         "tokens": "--tokens", "unique_tokens": "--unique-tokens", "inference_tokens": "--inference-tokens",
         "loss": "--loss", "flops": "--flops", "flops_range": "--range", "columns": "--column",
         "drop_invalid": "--drop-invalid", "out": "--out", "figure": "--figure",
         "rules": "--rules", "uri": "--tracking-uri", "bootstrap": "--bootstrap",
         "gpu": "--gpu", "gpus": "--gpus", "mfu": "--mfu", "gpu_hours": "--gpu-hours", "days": "--days",
         "until_width": "--until-width", "drop_highest": "--drop-highest",
         "steps": "--steps", "curve_fit": "--curve-fit", "schedule": "--schedule"}
"""Library argument -> the option that sets it. Library errors name arguments in backticks
(`flops`); the CLI says which option to change."""


def as_flags(message: str) -> str:
    """`message` with each backticked argument of FLAGS named by its option."""
    return re.sub(r"`(\w+)`", lambda m: FLAGS.get(m.group(1), m.group(0)), message)


def _fail(message: str, code: int) -> None:
    first_line = " ".join(as_flags(str(message)).split())
    # control characters from a file or an option (NUL, terminal escapes) print as escapes
    first_line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in first_line)
    echo(f"error: {first_line}", err=True)
    sys.exit(code)


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: wraps at any width, prints [mlflow] as written
    help="How big a model to train, on how many tokens, for your compute, and how sure that is.",
)


def _print_version(value: bool) -> None:
    if value:
        # lazy: start-up speed (each command loads only its own library)
        from scaling.provenance import __version__

        echo(f"scaling {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """How big a model to train, on how many tokens, for your compute, and how sure that is."""


def positive_finite(value: float | None) -> float | None:
    """Option callback: accept a positive, finite number (rejects 0, negatives, nan, inf, 1e400)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive finite number, got {value!r}")
    return value


def nonnegative_finite(value: float | None) -> float | None:
    """Option callback: accept a finite number >= 0 (rejects negatives, nan, inf)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be a finite number >= 0, got {value!r}")
    return value


def finite_range(low: float, high: float) -> Callable[[float | None], float | None]:
    """Option callback factory: accept a finite number in [low, high] (typer's min/max let nan through)."""
    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise typer.BadParameter(f"must be a number in [{low:g}, {high:g}], got {value!r}")
        return value
    return check


def unit_interval(value: float | None) -> float | None:
    """Option callback: accept a number in (0, 1] (utilisations, fractions)."""
    if value is not None and not (math.isfinite(value) and 0 < value <= 1):
        raise typer.BadParameter(f"must be in (0, 1], got {value!r}")
    return value


def positive_int(value: int | None) -> int | None:
    """Option callback: accept an integer >= 1."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be an integer >= 1, got {value!r}")
    return value


def command_line() -> str:
    """The command as typed, with the program's name rather than its install path (the path is
    this machine's, and sweep.json is committed with studies)."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def resamples(value: int | None) -> int | None:
    """Option callback: 0 (no bootstrap) or 2 to MAX_RESAMPLES resamples, checked before any work."""
    from scaling.fit.resampling import MAX_RESAMPLES  # lazy: numpy, which only the commands that bootstrap need

    if value is not None and not (value == 0 or 2 <= value <= MAX_RESAMPLES):
        raise typer.BadParameter(f"must be 0 or 2 to {MAX_RESAMPLES:,} resamples, got {value!r}")
    return value


def seed_option(value: int | None) -> int | None:
    """Option callback: a seed from 0 to scaling.config.MAX_SEED."""
    from scaling.config import MAX_SEED  # lazy: _app loads before any library module, as every command's base

    if value is not None and not 0 <= value <= MAX_SEED:
        raise typer.BadParameter(f"must be an integer from 0 to {MAX_SEED}, got {value!r}")
    return value


def budget(value: float | list[float] | None) -> float | list[float] | None:
    """Option callback: positive FLOPs up to scaling.flops.MAX_FLOPS (one value or a repeated option)."""
    from scaling.flops import MAX_FLOPS  # lazy: _app loads before any library module, as every command's base

    for item in value if isinstance(value, list) else [] if value is None else [value]:
        if not (math.isfinite(item) and 0 < item <= MAX_FLOPS):
            raise typer.BadParameter(f"must be positive FLOPs up to {MAX_FLOPS:g}, got {item!r}")
    return value


MAX_WORKERS = 1024
"""Most worker processes (--workers, --jobs) a command starts: more than any one machine's cores."""
MAX_RETRIES = 100
"""Most extra attempts at a failing run (--retries)."""


MAX_PRICE = 1e6
"""Largest --price-per-gpu-hour, dollars: far above any GPU's rent (a few dollars an hour), low
enough that a plan's dollars stay finite at the largest budget."""


def price(value: float | None) -> float | None:
    """Option callback: a positive, finite price up to MAX_PRICE dollars per GPU-hour."""
    if value is not None and not (math.isfinite(value) and 0 < value <= MAX_PRICE):
        raise typer.BadParameter(f"must be a positive number of dollars up to {MAX_PRICE:g}, got {value!r}")
    return value
