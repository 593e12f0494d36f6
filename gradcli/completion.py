"""``gradcli --install-completion [SHELL]`` and ``--show-completion [SHELL]``.

Typer's own options are flags: they ignore a word after them and install for the shell they
detect (``--install-completion nosuchshell`` wrote bash completion into ~/.bashrc and exited
0). gradcli reads the word after them as the shell's name, refuses a name it does not know
(exit 2, no file touched), and installs or prints with Typer's scripts.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradcli.errors import InputError, shown, suggest

INSTALL = "--install-completion"
SHOW = "--show-completion"
OPTIONS = (INSTALL, SHOW)
HELP_WORDS = ("-h", "--help")
HELP = {
    "install_completion": "Install completion for the current shell, or for the shell named "
    "after it: bash, zsh, fish, powershell or pwsh.",
    "show_completion": "Show completion for the current shell (or the one named after it), to "
    "copy it or customize the installation.",
}


def completion_request(args: Sequence[str]) -> tuple[str, list[str]] | None:
    """(option, the words after it) when ``args`` asks for completion before any command
    name; None otherwise (also when help is asked for: help comes first)."""
    for at, word in enumerate(args):
        if word in HELP_WORDS:
            return None
        if word in OPTIONS:
            rest = list(args[at + 1 :])
            return None if any(later in HELP_WORDS for later in rest) else (word, rest)
        if not word.startswith("-"):
            return None  # a command: its own options follow
    return None


def run_completion(option: str, rest: list[str], prog_name: str) -> int:
    """Install or show the completion script for the shell named in ``rest`` (or the
    current one); InputError for an unknown shell, before any file is touched."""
    shell = _shell(option, rest)
    complete_var = "_{}_COMPLETE".format(prog_name.replace("-", "_").upper())
    from typer._completion_shared import get_completion_script, install

    if option == SHOW:
        print(get_completion_script(prog_name=prog_name, complete_var=complete_var, shell=shell))
        return 0
    try:
        _, path = install(shell=shell, prog_name=prog_name, complete_var=complete_var)
    except OSError as error:
        where = f" {shown(str(error.filename))}" if error.filename else ""
        raise InputError(f"{option}: cannot write{where}: {error.strerror}") from None
    print(f"{shell} completion installed in {path}")
    print("Completion will take effect once you restart the terminal")
    return 0


def _shell(option: str, rest: list[str]) -> str:
    from typer._completion_shared import Shells

    names = [shell.value for shell in Shells]
    if len(rest) > 1:
        words = " ".join(shown(word) for word in rest[1:])
        raise InputError(f"{option} takes one shell name at most; unexpected {words}")
    if rest:
        name = rest[0].lower()
        if name not in names:
            raise InputError(
                f"{option}: unknown shell {shown(rest[0])}{suggest(rest[0], names)}; "
                f"gradcli completes {', '.join(names)}"
            )
        return name
    from typer._completion_shared import _get_shell_name

    detected = _get_shell_name()
    if detected not in names:
        found = f"the current shell {shown(detected)}" if detected else "the current shell"
        raise InputError(
            f"{option}: {found} has no completion here; name one: {option} bash "
            f"(or {', '.join(names[1:])})"
        )
    return detected
