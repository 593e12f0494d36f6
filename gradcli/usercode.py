"""Load the user's ``FILE.py:NAME`` and run their code, every failure mapped to one line.

The user's file is their own code: it is imported (not evaluated from text) and runs with
their permissions, like ``python FILE.py`` would. Nothing here imports torch or knows
about terminals. While their code runs, what it prints goes to stderr, so ``--json`` on
stdout stays valid.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType

from gradcli.errors import InputError, shown, suggest

MESSAGE_LIMIT = 160  # characters of the user's exception message kept on the Error line
PATH_LIMIT = 240  # a FILE.py:NAME echoed in an error keeps its file name visible
_counter = itertools.count(1)


@dataclass(frozen=True)
class Target:
    """``FILE.py:NAME`` as the user wrote it."""

    path: Path
    name: str
    text: str

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.name}"


class UserCodeError(InputError):
    """The user's code failed (import, a missing name, an exception): one line, exit 2.

    ``exc`` keeps their exception for ``--traceback``.
    """

    def __init__(self, message: str, exc: BaseException | None = None) -> None:
        super().__init__(message)
        self.exc = exc

    def traceback_text(self, files: Iterable[Path] = ()) -> str:
        """Their traceback, from the first frame in one of their files on (all when none)."""
        if self.exc is None:
            return ""
        tb = _from_first_user_frame(self.exc.__traceback__, {_key(f) for f in files})
        lines = traceback.format_exception(type(self.exc), self.exc, tb)
        return "".join(lines)


class UserInterrupt(Exception):
    """Ctrl-C while the user's code ran: the command exits 130."""


def parse_target(text: str, what: str = "") -> Target:
    """``path/to/file.py:NAME`` → Target; the file must exist and end in ``.py``.

    ``what`` prefixes the error (e.g. ``"--backward "``)."""
    file, sep, name = text.strip().rpartition(":")
    if not sep or not file or not name:
        raise InputError(
            f"{what}{shown(text, PATH_LIMIT)} must look like FILE.py:NAME, e.g. mylayer.py:Linear"
        )
    if not name.isidentifier():
        raise InputError(f"{what}{shown(text, PATH_LIMIT)}: {shown(name)} is not a Python name")
    path = Path(file)
    if path.suffix != ".py":
        raise InputError(
            f"{what}{shown(text, PATH_LIMIT)}: {shown(file, PATH_LIMIT)} is not a .py file"
        )
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise InputError(
            f"{what}{shown(text, PATH_LIMIT)}: the file {shown(file, PATH_LIMIT)} {problem}"
        )
    return Target(path, name, text)


class Loader:
    """Imports each of the user's files once (forward and backward may share module state)."""

    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}

    def load(self, target: Target) -> object:
        """The object ``NAME`` in the target's file."""
        module = self._module(target.path)
        if not hasattr(module, target.name):
            public = [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)]
            raise UserCodeError(
                f"{target.path.name} has no '{target.name}'{suggest(target.name, public)}"
            )
        return getattr(module, target.name)

    def _module(self, path: Path) -> ModuleType:
        key = _key(path)
        if key not in self.modules:
            self.modules[key] = self._import(path)
        return self.modules[key]

    def _import(self, path: Path) -> ModuleType:
        """Import ``path`` under a private module name, its folder on sys.path meanwhile."""
        name = f"_gradcli_user_{next(_counter)}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path.resolve())
        if spec is None or spec.loader is None:  # pragma: no cover  (a .py file always loads)
            raise UserCodeError(f"cannot import '{path}'")
        module = importlib.util.module_from_spec(spec)
        folder = str(path.resolve().parent)
        sys.path.insert(0, folder)
        sys.modules[name] = module  # dataclasses and typing look their module up while it runs
        try:
            with self.running(f"the import of {path.name}", [path]):
                spec.loader.exec_module(module)
        finally:
            sys.modules.pop(name, None)
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
        return module

    @contextlib.contextmanager
    def running(self, where: str, extra: Iterable[Path] = ()) -> Iterator[None]:
        """Run the user's code: their prints go to stderr, their exceptions become one line."""
        files = {*self.modules, *(_key(path) for path in extra)}
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        except UserCodeError:
            raise
        except KeyboardInterrupt:
            raise UserInterrupt(f"interrupted in {where}") from None
        except SyntaxError as error:
            raise UserCodeError(_syntax_message(error), error) from None
        except (Exception, SystemExit) as error:
            raise UserCodeError(describe(error, files, where), error) from None


def describe(error: BaseException, files: set[str], where: str) -> str:
    """``mylayer.py line 12 in backward: RuntimeError: …`` for the innermost frame of theirs."""
    frame = _innermost_user_frame(error.__traceback__, files)
    if isinstance(error, SystemExit):
        what = f"SystemExit: their code called sys.exit({error.code!r})"
    else:
        what = f"{type(error).__name__}: {_first_line(error)}"
    if frame is None:
        return f"in {where}: {what}"
    return f"{Path(frame.filename).name} line {frame.lineno} in {frame.name}: {what}"


def _syntax_message(error: SyntaxError) -> str:
    file = Path(error.filename or "?").name
    line = f" line {error.lineno}" if error.lineno else ""
    return f"{file}{line}: {type(error).__name__}: {error.msg}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else "(no message)"
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"


def _key(path: Path | str) -> str:
    return str(Path(path).resolve())


def _innermost_user_frame(
    tb: TracebackType | None, files: set[str]
) -> traceback.FrameSummary | None:
    frames = [f for f in traceback.extract_tb(tb) if _key(f.filename) in files]
    return frames[-1] if frames else None


def _from_first_user_frame(tb: TracebackType | None, files: set[str]) -> TracebackType | None:
    """Skip gradcli's own frames before the user's first one (all frames if none is theirs)."""
    current = tb
    while current is not None:
        if _key(current.tb_frame.f_code.co_filename) in files:
            return current
        current = current.tb_next
    return tb
