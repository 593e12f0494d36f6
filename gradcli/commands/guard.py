"""Every exception a command raises, mapped to an exit code and one ``Error: …`` line.

Shared by the application (:mod:`gradcli.cli`) and by ``batch``, which runs each of its
lines through :func:`guarded` too.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer
from typer._click.exceptions import NoSuchOption

from gradcli._torch import GONE
from gradcli.errors import ExitCode, InputError, escape, no_such_option

MESSAGE_LIMIT = 1000  # characters of one error line


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> int:
    """Report a problem as one line on stderr: controls escaped, length capped."""
    line = escape(message)
    if len(line) > MESSAGE_LIMIT:
        line = line[: MESSAGE_LIMIT - 1] + "…"
    sys.stderr.write(f"Error: {line}\n")
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
    """``no such option '-x' (did you mean '--x'?)`` — also for a single-dash long name, and
    said plainly for an option other tools have (``--weight-decay``)."""
    if error.ctx is None:
        return no_such_option(error.option_name, [])
    from gradcli.ops.optimizers import OPTIMIZER_LIST

    options = [opt for param in error.ctx.command.params for opt in getattr(param, "opts", [])]
    hyper = {p.name for optimizer in OPTIMIZER_LIST for p in optimizer.params} - {"lr"}
    return no_such_option(error.option_name, options, error.ctx.command.name, hyper)
