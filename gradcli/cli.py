"""The gradcli application: commands joined, and every exception mapped to an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gradcli import __version__
from gradcli.commands.activation import activation
from gradcli.commands.batch import batch
from gradcli.commands.layer import layer
from gradcli.commands.loss import loss
from gradcli.commands.options import NUMERIC_ARGS
from gradcli.commands.perceptron import perceptron
from gradcli.commands.softmax import softmax_jacobian
from gradcli.errors import ExitCode, InputError


def fail(message: str) -> int:
    """Report bad input as one line on stderr."""
    sys.stderr.write(f"Error: {message}\n")
    return ExitCode.BAD_INPUT


class GradcliGroup(TyperGroup):
    """Runs the program and owns the mapping from exceptions to exit codes."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._run(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args: Any, prog_name: Any, complete_var: Any, **extra: Any) -> int:
        return guarded(
            lambda: super(GradcliGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        )


def guarded(run: Callable[[], Any]) -> int:
    """Run a command; map every exception a user can cause to ``Error: …`` and an exit code."""
    try:
        code = run()
    except InputError as error:
        return fail(str(error))
    except typer.TyperException as error:  # Click's usage errors: bad option, bad choice…
        return fail(error.format_message())
    except typer.Abort:
        return fail("aborted")
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`): stop quietly
        return ExitCode.OK
    return int(code or 0)


app = typer.Typer(
    cls=GradcliGroup,
    help="Gradients three ways: the analytic formula, torch autograd and finite differences.",
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        print(f"gradcli {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Gradients three ways: the analytic formula, torch autograd and finite differences."""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())


app.command("activation", context_settings=NUMERIC_ARGS)(activation)
app.command("softmax-jacobian", context_settings=NUMERIC_ARGS)(softmax_jacobian)
app.command("loss")(loss)  # no positional numbers: negative --pred values parse as is
app.command("perceptron")(perceptron)
app.command("layer")(layer)  # options only: negative values parse as option values
app.command("batch")(batch)


def main(argv: list[str] | None = None) -> None:
    """Run gradcli on ``argv`` (default: the process arguments) and exit."""
    app(args=argv, prog_name="gradcli")
