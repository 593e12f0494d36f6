"""The gradcli application: commands joined, and every exception mapped to an exit code."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import NoSuchOption
from typer.core import TyperGroup

from gradcli import __version__
from gradcli._torch import GONE
from gradcli.commands import activation, batch, check, expr, layer, loss, perceptron, softmax
from gradcli.commands.registry import HELP_OPTIONS, register
from gradcli.completion import HELP as COMPLETION_HELP
from gradcli.completion import completion_request, run_completion
from gradcli.errors import ExitCode, InputError, escape, shown, suggest
from gradcli.limits import check_limits
from gradcli.parsing import release_stdin
from gradcli.streams import SafeStream, safe_streams

MESSAGE_LIMIT = 1000  # characters of one error line


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> int:
    """Report a problem as one line on stderr: controls escaped, length capped."""
    line = escape(message)
    if len(line) > MESSAGE_LIMIT:
        line = line[: MESSAGE_LIMIT - 1] + "…"
    sys.stderr.write(f"Error: {line}\n")
    return code


class GradcliGroup(TyperGroup):
    """Runs the program and owns the mapping from exceptions and stream failures to exit codes."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise InputError(
                f"no such command {shown(name)}{suggest(name, self.list_commands(ctx))}"
            )
        return super().resolve_command(ctx, args)

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        release_stdin()
        with safe_streams() as (out, _err):
            code = guarded(lambda: self._checked_main(args, prog_name, complete_var, **extra))
            code = _stream_problems(out, code)
        if standalone_mode:
            sys.exit(code)
        return code

    def _main_shell_completion(
        self, ctx_args: Any, prog_name: str, complete_var: Any = None
    ) -> None:
        """Shell completion; a malformed completion environment completes nothing."""
        try:
            super()._main_shell_completion(ctx_args, prog_name, complete_var)
        except (ValueError, KeyError, IndexError):
            sys.exit(1)

    def _checked_main(self, args: Any, prog_name: Any, complete_var: Any, **extra: Any) -> Any:
        check_limits()  # a bad GRADCLI_MAX_MEMORY / GRADCLI_MAX_WORK is reported up front
        request = completion_request(sys.argv[1:] if args is None else args)
        if request is not None:  # before Click, whose flags would ignore the shell's name
            return run_completion(*request, prog_name=prog_name or "gradcli")
        return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:  # Typer's completion options, with the shell name they take here
            param.help = COMPLETION_HELP.get(param.name or "", param.help)
        return params


def _stream_problems(out: SafeStream, code: int) -> int:
    """Exit code 2 and one error line when the output could not be written."""
    out.flush()
    if out.failure:
        return fail(f"cannot write the output: {out.failure}")
    if out.wrote_to_closed:
        return fail("standard output is closed; nothing could be written")
    return code


def guarded(run: Callable[[], Any]) -> int:
    """Run a command; map every exception to ``Error: …`` and an exit code.

    Input errors exit 2, Ctrl-C 130, and anything unexpected — a bug — exit 3 with one
    line asking for a report (``GRADCLI_DEBUG=1`` adds the traceback).
    """
    try:
        code = run()
    except InputError as error:
        return fail(str(error))
    except NoSuchOption as error:
        return fail(_no_such_option(error))
    except typer.TyperException as error:  # Click's usage errors: bad option, bad choice…
        return fail(error.format_message())
    except typer.Abort:
        return fail("aborted")
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK  # the reader went away (e.g. `| head`): stop quietly
    except MemoryError:
        return fail(OUT_OF_MEMORY)
    except Exception as error:
        if _out_of_memory(error):
            return fail(OUT_OF_MEMORY)
        if _working_directory_gone(error):
            return fail(GONE)
        if os.environ.get("GRADCLI_DEBUG") == "1":
            traceback.print_exc()
        return fail(
            f"internal error: {type(error).__name__}: {error} — please report it, with the "
            "command line (GRADCLI_DEBUG=1 shows the traceback)",
            ExitCode.INTERNAL,
        )
    return int(code or 0)


OUT_OF_MEMORY = (
    "out of memory: the inputs need more memory than this machine can give; make them smaller "
    "(or lower GRADCLI_MAX_MEMORY so that gradcli refuses such sizes up front)"
)


def _out_of_memory(error: Exception) -> bool:
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text
    )


def _working_directory_gone(error: Exception) -> bool:
    """``os.getcwd()`` failed somewhere (the directory was deleted): not a bug of gradcli's."""
    if not isinstance(error, FileNotFoundError) or error.filename is not None:
        return False
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _no_such_option(error: NoSuchOption) -> str:
    """``no such option '-x' (did you mean '--x'?)`` — also for a single-dash long name."""
    name = error.option_name
    options = [opt for param in error.ctx.command.params for opt in getattr(param, "opts", [])]
    if error.ctx is None:
        options = []
    doubled = f"-{name}" if name.startswith("-") and not name.startswith("--") else ""
    if doubled in options:
        return f"no such option {shown(name)} (did you mean '{doubled}'?)"
    return f"no such option {shown(name)}{suggest(name, options)}"


ABOUT = (
    "Gradients three ways: the analytic formula, torch autograd and finite differences, side "
    "by side, with a verdict and an exit code (0 agree, 1 disagree or a wrong answer, 2 bad "
    "input). Check your own answer with --expect on any command; run 'gradcli COMMAND -h' "
    "for its options and examples."
)

app = typer.Typer(
    cls=GradcliGroup,
    help=ABOUT,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)


def _show_version(value: bool) -> None:
    if value:
        print(f"gradcli {__version__}")
        print(torch_build())
        raise typer.Exit()


def torch_build() -> str:
    """``torch 2.13.0+cpu (CPU build)`` — read from torch's files, without importing it."""
    from importlib import metadata, util

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch: not installed"
    spec = util.find_spec("torch")
    cuda = None
    for folder in spec.submodule_search_locations or [] if spec else []:
        text = Path(folder, "version.py").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^cuda(?::[^=]*)?\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        cuda = match.group(1) if match else None
    return f"torch {version} ({f'CUDA {cuda} build' if cuda else 'CPU build'})"


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show gradcli's version and torch's (CPU or CUDA build).",
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())


for command in (activation, softmax, loss, perceptron, layer, expr, check, batch):
    register(app, command.INFO)


def main(argv: list[str] | None = None) -> None:
    """Run gradcli on ``argv`` (default: the process arguments) and exit."""
    app(args=argv, prog_name="gradcli")
