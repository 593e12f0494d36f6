"""Load the user's ``FILE.py:NAME`` and run their code, every failure said in one sentence.

The user's file is their own code: it is imported (not evaluated from text) and runs with
their permissions, like ``python FILE.py`` would. Nothing here imports torch or knows
about terminals. While their code runs, what it prints goes to stderr, so ``--json`` on
stdout stays valid.

Every exception their code raises — ``BaseException`` included (``SystemExit``,
``GeneratorExit``, their own subclasses) — becomes a :class:`UserCodeFailure` naming the
exception and the innermost line of *their* code (their files and the modules they import
from their own folders; never gradcli's, the standard library's or an installed package's).
Only ``KeyboardInterrupt`` stays an interruption (:class:`UserInterrupt`, exit 130).
Each call is announced to :data:`monitor` (the child process's shared memory, see
gradcli.sandbox), so a call that hangs or ends the process is reported with its stage.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType, TracebackType
from typing import Any

from gradcli.errors import InputError, shown, suggest
from gradcli.results.failure import EXCEPTION, Failure, Place, stage_text

MESSAGE_LIMIT = 160  # characters of the user's exception message kept
PATH_LIMIT = 240  # a FILE.py:NAME echoed in an error keeps its file name visible
_counter = itertools.count(1)
_TARGET_FILES: set[str] = set()  # the user's files imported so far (always "theirs")


@dataclass(frozen=True)
class Target:
    """``FILE.py:NAME`` as the user wrote it."""

    path: Path
    name: str
    text: str

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.name}"


@dataclass(frozen=True)
class GivenCode:
    """The user's code handed over as a Python object (``gradcli.check(MySigmoid, …)``): a
    function or class defined anywhere, a notebook cell included."""

    obj: object
    text: str  # how results name it: its qualified name
    files: tuple[str, ...] = ()  # the files its code is in: frames there are the user's

    @property
    def label(self) -> str:
        return self.text

    @staticmethod
    def of(obj: object) -> GivenCode:
        module = getattr(obj, "__module__", None) or ""
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
        text = name if module in ("", "__main__", "builtins") else f"{module}.{name}"
        return GivenCode(obj, text, tuple(_code_files(obj)))


def _code_files(obj: object) -> list[str]:
    """Where ``obj``'s code lives (a class: its methods' files too)."""
    found = []
    functions = [obj, *vars(obj).values()] if isinstance(obj, type) else [obj]
    for item in functions:
        item = getattr(item, "__func__", item)  # staticmethod, classmethod
        code = getattr(item, "__code__", None)
        if code is not None and code.co_filename not in found:
            found.append(code.co_filename)
    return found


class UserCodeError(InputError):
    """The user's file cannot be used as asked (a missing NAME, not a function…): exit 2."""


class UserCodeFailure(Exception):
    """The user's code failed while it ran (an exception, an exit, a hang…): exit 1."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.summary)
        self.failure = failure


class UserInterrupt(Exception):
    """Ctrl-C while the user's code ran: the command exits 130."""


class Monitor:
    """Where the user's code is: told when each call starts and ends (no-op here; the
    sandbox's child process installs one in shared memory that the parent reads)."""

    def enter(self, phase: str, label: str) -> object:
        return None

    def leave(self, token: object) -> None:
        return None


monitor: Monitor = Monitor()


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
    """Imports each of the user's files once (forward and backward may share module state).

    ``guard`` wraps every call of their code (gradcli.core.check restores torch's global
    state with it: grad mode, default dtype, threads, the random generator)."""

    def __init__(self, guard: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self.modules: dict[str, ModuleType] = {}
        self.guard = guard or contextlib.nullcontext

    def load(self, target: Target | GivenCode) -> object:
        """The object ``NAME`` in the target's file (or the object handed over, whose files
        are then the user's, wherever they are)."""
        if isinstance(target, GivenCode):
            _TARGET_FILES.update(_key(file) for file in target.files if not file.startswith("<"))
            is_user_file.cache_clear()
            return target.obj
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
        """Import ``path`` under a private module name, its folder on sys.path meanwhile.

        What the import changes in torch's global state stays (a module that sets the
        default dtype means it for its own code); the calls after it are guarded."""
        name = f"_gradcli_user_{next(_counter)}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path.resolve())
        if spec is None or spec.loader is None:  # pragma: no cover  (a .py file always loads)
            raise UserCodeError(f"cannot import '{path}'")
        module = importlib.util.module_from_spec(spec)
        folder = str(path.resolve().parent)
        _TARGET_FILES.add(_key(path))
        is_user_file.cache_clear()
        sys.path.insert(0, folder)
        sys.modules[name] = module  # dataclasses and typing look their module up while it runs
        try:
            with self.running(f"the import of {path.name}", guarded=False):
                spec.loader.exec_module(module)
        finally:
            sys.modules.pop(name, None)
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
        return module

    @contextlib.contextmanager
    def running(self, where: str, guarded: bool = True) -> Iterator[None]:
        """Run the user's code (``where``: ``the forward of mylayer.py:f``): their prints go
        to stderr, their exceptions become a UserCodeFailure (Ctrl-C a UserInterrupt), and
        torch's global state is restored after (``guarded``)."""
        phase, label = split_stage(where)
        token = monitor.enter(phase, label)
        try:
            with (
                contextlib.redirect_stdout(sys.stderr),
                self.guard() if guarded else contextlib.nullcontext(),
            ):
                yield
        except (UserCodeError, UserCodeFailure, UserInterrupt):
            raise
        except KeyboardInterrupt:
            raise UserInterrupt(f"interrupted in {where}") from None
        except BaseException as error:  # (every exception of theirs is a finding)
            raise UserCodeFailure(exception_failure(error, phase, label)) from None
        finally:
            monitor.leave(token)


_STAGE = re.compile(r"^the (?P<phase>.+?) of (?P<label>.+)$", re.S)


def split_stage(where: str) -> tuple[str, str]:
    """``the backward of x.py:F`` → (``backward``, ``x.py:F``)."""
    match = _STAGE.match(where)
    return (match["phase"], match["label"]) if match else (where, "your code")


# ------------------------------------------------------------------ which frames are theirs


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Folders whose files are not the user's: gradcli, the standard library, installed
    packages."""
    roots = {str(Path(__file__).resolve().parent)}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(str(Path(paths[key]).resolve()))
    return tuple(sorted(roots))


@functools.lru_cache(maxsize=4096)
def is_user_file(filename: str) -> bool:
    """Whether a frame in ``filename`` is the user's code."""
    if not filename or filename.startswith("<"):
        return False
    key = _key(filename)
    if key in _TARGET_FILES:
        return True
    parts = Path(key).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not any(key == root or key.startswith(root + "/") for root in _library_roots())


def _user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(tb) if is_user_file(f.filename)]


def innermost_place(tb: TracebackType | None) -> Place | None:
    """The innermost of the user's frames in a traceback."""
    frames = _user_frames(tb)
    if not frames:
        return None
    last = frames[-1]
    return Place(str(last.filename), int(last.lineno or 0), last.name)


def calling_place(frame: FrameType | None) -> Place | None:
    """The innermost of the user's frames on a live stack (from ``frame`` outwards)."""
    while frame is not None:
        if is_user_file(frame.f_code.co_filename):
            return Place(frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name)
        frame = frame.f_back
    return None


def _from_first_user_frame(tb: TracebackType | None) -> TracebackType | None:
    """Skip gradcli's own frames before the user's first one (all frames if none is theirs)."""
    current = tb
    while current is not None:
        if is_user_file(current.tb_frame.f_code.co_filename):
            return current
        current = current.tb_next
    return tb


def _key(path: Path | str) -> str:
    return str(Path(path).resolve())


# ------------------------------------------------------------------ failures in words


def exception_failure(error: BaseException, phase: str, label: str) -> Failure:
    """``your code raised RuntimeError in the backward of x.py:F: …``, with where."""
    stage = stage_text(phase, label)
    name = _type_name(error)
    if isinstance(error, SyntaxError) and phase == "import":
        file = Path(error.filename or "?")
        place = Place(str(file), int(error.lineno or 0), "<module>") if error.lineno else None
        message = str(getattr(error, "msg", "") or _first_line(error))
        headline = f"{file.name} cannot be imported: {name}: {message}"
        text = "".join(traceback.format_exception_only(type(error), error))
        return Failure(EXCEPTION, phase, label, headline, place, name, message, traceback=text)
    if isinstance(error, SystemExit):
        message = f"sys.exit({_code(error)})"
        headline = f"your code called sys.exit({_code(error)}) in {stage}"
    else:
        message = _first_line(error)
        headline = f"your code raised {name} in {stage}: {message}"
    tb = _from_first_user_frame(error.__traceback__)
    try:
        text = "".join(traceback.format_exception(type(error), error, tb))
    except Exception:  # (their exception's __str__ may raise anything)
        text = "".join(traceback.format_list(traceback.extract_tb(tb))) + f"{name}\n"
    return Failure(
        EXCEPTION, phase, label, headline, innermost_place(error.__traceback__), name, message,
        traceback=text,
    )  # fmt: skip


def _type_name(error: BaseException) -> str:
    return type(error).__name__


def _code(error: SystemExit) -> str:
    try:
        return repr(error.code)
    except Exception:
        return "…"


def _first_line(error: BaseException) -> str:
    try:
        text = str(error).strip().splitlines()
    except Exception as inner:  # (their __str__ raised)
        return f"(its message cannot be shown: its __str__ raised {type(inner).__name__})"
    line = text[0] if text else "(no message)"
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"
