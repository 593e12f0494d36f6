"""Run the user's code in a child process, so that whatever it does, gradcli reports it.

``contain(work, timeout)`` forks, runs ``work()`` in the child and returns its value in the
parent. One `check` forks before torch is imported (the child imports it; the fork of a
small process is almost free); `batch` keeps torch loaded in its own process and forks after
(tens of milliseconds; docs/performance.md). What cannot be caught inside a process is then
seen from outside:

* the child ends without a result: ``os._exit(n)`` (where it was called is recorded) or a
  signal (a segfault in an extension; faulthandler writes the stack);
* a call of the user's code runs longer than ``timeout`` seconds: the child writes its
  stack (SIGUSR1 → faulthandler) and is killed;
* in the child, file descriptors 1 and 2 are one pipe that the parent copies, live, to its
  own stderr: even ``os.write(1, …)`` and C code's printf cannot reach stdout (``--json``).
  Standard input is /dev/null unless it is a terminal (a ``breakpoint()`` still works).

Whatever global state the user's code changes dies with the child. The parent learns where
the user's code is from a page of shared memory that :data:`gradcli.usercode.monitor`
writes at each call. Without ``os.fork`` (Windows), or with ``GRADCLI_NO_SANDBOX=1``,
``work()`` runs in this process: exceptions are still findings, but an exit, a crash or a
hang is not contained.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import io
import mmap
import os
import pickle
import re
import select
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from gradcli import usercode
from gradcli.errors import InputError
from gradcli.results.failure import CRASH, EXCEPTION, EXIT, TIMEOUT, Failure, Place, stage_text
from gradcli.usercode import UserCodeFailure, UserInterrupt

T = TypeVar("T")

GRACE = 2.0  # seconds a timed-out child gets to write its stack before it is killed
POLL = 0.25  # seconds between looks at the clock while the child runs
CHUNK = 65536
SEPARATOR = "\x1f"


def available() -> bool:
    """Whether the user's code can run in a child process here."""
    return hasattr(os, "fork") and os.environ.get("GRADCLI_NO_SANDBOX", "") in ("", "0")


# ------------------------------------------------------------------ shared memory


class SharedMonitor(usercode.Monitor):
    """The child's record of where the user's code is, in a page the parent can read.

    Layout: the start time of the running call (CLOCK_MONOTONIC, 0 when none runs), the
    phase and label of the call (or of the last one), and where ``os._exit`` was called.
    """

    SIZE = 4096
    STAGE = 8  # offset of the stage text (4-byte length, then UTF-8)
    EXIT = 2048  # offset of the os._exit record
    TEXT = 2000  # bytes each text may hold

    def __init__(self) -> None:
        self.page = mmap.mmap(-1, self.SIZE)  # anonymous and shared: seen across fork
        self.stack: list[tuple[float, str]] = []

    # written by the child
    def enter(self, phase: str, label: str) -> object:
        text = f"{phase}{SEPARATOR}{label}"
        start = time.monotonic()
        self.stack.append((start, text))
        self._write_text(self.STAGE, text)
        struct.pack_into("<d", self.page, 0, start)
        return len(self.stack)

    def leave(self, token: object) -> None:
        del self.stack[int(token) - 1 :]  # type: ignore[call-overload]
        if self.stack:
            start, text = self.stack[-1]
            self._write_text(self.STAGE, text)
            struct.pack_into("<d", self.page, 0, start)
        else:
            struct.pack_into("<d", self.page, 0, 0.0)  # the stage text stays: the last one

    def record_exit(self, place: Place | None, code: object) -> None:
        where = "" if place is None else SEPARATOR.join((place.file, str(place.line),
                                                         place.function))  # fmt: skip
        self._write_text(self.EXIT, f"{code!r}{SEPARATOR}{where}")

    def _write_text(self, offset: int, text: str) -> None:
        data = text.encode("utf-8", "replace")[: self.TEXT]
        struct.pack_into("<I", self.page, offset, len(data))
        self.page[offset + 4 : offset + 4 + len(data)] = data

    # read by the parent
    def running_since(self) -> float:
        return struct.unpack_from("<d", self.page, 0)[0]

    def stage(self) -> tuple[str, str] | None:
        text = self._read_text(self.STAGE)
        if not text:
            return None
        phase, _, label = text.partition(SEPARATOR)
        return phase, label

    def exit_record(self) -> tuple[str, Place | None] | None:
        text = self._read_text(self.EXIT)
        if not text:
            return None
        code, _, where = text.partition(SEPARATOR)
        parts = where.split(SEPARATOR)
        place = None
        if len(parts) == 3 and parts[1].isdigit():
            place = Place(parts[0], int(parts[1]), parts[2])
        return code, place

    def _read_text(self, offset: int) -> str:
        (length,) = struct.unpack_from("<I", self.page, offset)
        length = min(length, self.TEXT)
        return bytes(self.page[offset + 4 : offset + 4 + length]).decode("utf-8", "replace")


# ------------------------------------------------------------------ what the work gave


@dataclass(frozen=True)
class _Outcome:
    """What ``work()`` ended with: a value, or an exception to raise again in the parent."""

    tag: str  # "value" | "raise" | "failure" | "interrupt"
    payload: Any


def _outcome(work: Callable[[], Any], shared: SharedMonitor | None) -> _Outcome:
    """Run ``work`` and say how it ended (the same in the child and in-process)."""
    try:
        return _Outcome("value", work())
    except UserCodeFailure as failure:
        return _Outcome("failure", failure.failure)
    except UserInterrupt as interrupt:
        return _Outcome("interrupt", str(interrupt))
    except InputError as error:
        return _Outcome("raise", error)
    except KeyboardInterrupt:
        return _Outcome("interrupt", "interrupted")
    except BaseException as error:  # (a bug of gradcli's, or raised by an object of theirs)
        if _innermost_is_theirs(error):
            phase, label = (shared.stage() if shared else None) or ("check", "your code")
            return _Outcome("failure", usercode.exception_failure(error, phase, label))
        if os.environ.get("GRADCLI_DEBUG") == "1":
            traceback.print_exc()
        return _Outcome("raise", error)


def _innermost_is_theirs(error: BaseException) -> bool:
    """Whether the innermost Python frame of the traceback is the user's (their object
    raised while gradcli used what their code returned)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and usercode.is_user_file(frames[-1].filename)


def _raise(outcome: _Outcome) -> Any:
    if outcome.tag == "value":
        return outcome.payload
    if outcome.tag == "failure":
        raise UserCodeFailure(outcome.payload)
    if outcome.tag == "interrupt":
        raise UserInterrupt(outcome.payload)
    raise outcome.payload


# ------------------------------------------------------------------ the entry point


_unreaped: list[int] = []  # children that sent their result and were left to finish leaving
_keep_torch = False  # set by batch: torch is loaded in this process, before the fork


@contextlib.contextmanager
def torch_in_parent() -> Iterator[None]:
    """Meanwhile (a `batch`), torch is imported in this process before a child is forked, so
    every child starts with it (a fork then costs tens of milliseconds, an import seconds).
    Otherwise (one `check`) the child imports torch itself and the fork is almost free."""
    global _keep_torch
    before, _keep_torch = _keep_torch, True
    try:
        yield
    finally:
        _keep_torch = before


def contain(work: Callable[[], T], timeout: float | None = None) -> T:
    """``work()``, run in a child process; its value, or what stopped it raised here as
    InputError, UserCodeFailure (exit 1), UserInterrupt (exit 130) or another exception."""
    if not available():
        return in_process(work)
    _reap()
    if _keep_torch:
        from gradcli._torch import load

        load()
    return _Child(timeout).run(work)


def _reap(wait: bool = False) -> None:
    """Collect the children that have finished leaving since (all of them, with ``wait``)."""
    for pid in list(_unreaped):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, 0 if wait else os.WNOHANG)[0] == 0:
                continue
        _unreaped.remove(pid)


atexit.register(_reap, wait=True)  # no child outlives gradcli (its output is out already)


def in_process(work: Callable[[], T]) -> T:
    """``work()`` in this process, what it writes to file descriptor 1 sent to 2."""
    with _stdout_to_stderr():
        return _raise(_outcome(work, None))


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at 2 meanwhile (when both are real descriptors)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.dup2(saved, 1)
            os.close(saved)


class _Child:
    """One child process running one ``work()``."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout if timeout and timeout > 0 else None
        self.shared = SharedMonitor()
        self.faults = tempfile.TemporaryFile()  # noqa: SIM115  (faulthandler's dumps; closed in run)
        self.pid = 0

    def run(self, work: Callable[[], T]) -> T:
        result_r, result_w = os.pipe()
        relay_r, relay_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # nothing buffered may be written twice
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: "multi-threaded"
                self.pid = os.fork()
        except OSError as error:  # no memory or no process left for a child
            for fd in (result_r, result_w, relay_r, relay_w):
                os.close(fd)
            raise InputError(
                f"cannot start a child process for your code ({error.strerror}); "
                "GRADCLI_NO_SANDBOX=1 runs it inside gradcli's own process"
            ) from None
        if self.pid == 0:  # pragma: no cover  (runs in the child; its coverage is not seen)
            os.close(result_r)
            os.close(relay_r)
            self._child(work, result_w, relay_w)
        os.close(result_w)
        os.close(relay_w)
        try:
            return self._parent(result_r, relay_r)
        finally:
            self.faults.close()
            self.shared.page.close()

    # -------------------------------------------------------------- in the child

    def _child(self, work: Callable[[], Any], result_w: int, relay_w: int) -> None:
        """Set the child up, run ``work``, send how it ended, and leave at once."""
        real_exit = os._exit
        code = 0
        try:
            keep = _redirect_streams(relay_w)
            _install_handlers(self.faults, self.shared, real_exit)
            usercode.monitor = self.shared
            outcome = _outcome(work, self.shared)
            try:
                data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as error:  # (an unpicklable exception)
                data = pickle.dumps(_Outcome("raise", RuntimeError(f"{outcome.tag}: {error}")))
            for stream in (sys.stdout, sys.stderr):  # all output out before the result
                with contextlib.suppress(Exception):
                    stream.flush()
            _write_all(result_w, data)
            del keep
        except BaseException:  # (nothing may escape into the parent's code)
            code = 70
        finally:
            real_exit(code)

    # -------------------------------------------------------------- in the parent

    def _parent(self, result_r: int, relay_r: int) -> Any:
        """Copy the child's output while it runs; watch the clock; take its result.

        Once the result is complete the child has nothing left to say: it is not waited
        for (leaving a process of torch's size takes milliseconds), only reaped later."""
        data = bytearray()
        relay = _Relay()
        open_fds = {result_r, relay_r}
        status: int | None = None
        try:
            while result_r in open_fds and status is None:
                wait = self._wait_time()
                if wait is not None and wait <= 0:
                    return self._timed_out(relay, relay_r)
                ready = _select(open_fds, POLL if wait is None else min(POLL, wait))
                for fd in ready:
                    chunk = os.read(fd, CHUNK)
                    if not chunk:
                        open_fds.discard(fd)
                        os.close(fd)
                    elif fd == result_r:
                        data += chunk
                    else:
                        relay.write(chunk)
                if result_r in open_fds:
                    status = self._reaped()  # gone, though a grandchild holds the pipe open
            if relay_r in open_fds:
                relay.write(_drain(relay_r))
            relay.close()
            if status is None and not data:  # it ended without a result: how?
                status = os.waitpid(self.pid, 0)[1]
            elif status is None:
                _unreaped.append(self.pid)
        except KeyboardInterrupt:
            self._kill()
            raise UserInterrupt(f"interrupted in {self._stage_words()}") from None
        finally:
            for fd in open_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if data:
            try:
                outcome = pickle.loads(bytes(data))
            except Exception as error:
                raise RuntimeError(
                    f"the check's child process sent an unreadable result: {error}"
                ) from None
            return _raise(outcome)
        return self._ended_without_result(status)

    def _wait_time(self) -> float | None:
        """Seconds until the running call of the user's code times out (None: no limit or
        no call of theirs running)."""
        if self.timeout is None:
            return None
        since = self.shared.running_since()
        if since <= 0:
            return None
        return since + self.timeout - time.monotonic()

    def _reaped(self) -> int | None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        return status if pid == self.pid else None

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)

    def _timed_out(self, relay: _Relay, relay_r: int) -> Any:
        """Ask the child for its stack, then kill it; the failure names the stage and line."""
        stage = self.shared.stage() or ("check", "your code")
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGUSR1)
        _wait_for_dump(self.faults, GRACE)
        self._kill()
        with contextlib.suppress(OSError):
            relay.write(_drain(relay_r))
        relay.close()
        dump = _read(self.faults)
        phase, label = stage
        seconds = f"{self.timeout:g}"
        who = f"the import of {label}" if phase == "import" else f"your {phase}"
        verb = "finish" if phase == "import" else "return"
        headline = f"{who} did not {verb} within {seconds} s (--timeout {seconds})"
        raise UserCodeFailure(
            Failure(TIMEOUT, phase, label, headline, dump_place(dump), traceback=dump)
        )

    def _ended_without_result(self, status: int | None) -> Any:
        """The child ended without sending a result: os._exit, or a signal."""
        dump = _read(self.faults)
        stage = self.shared.stage()
        running = self.shared.running_since() > 0
        phase, label = stage or ("import", "your code")
        where = stage_text(phase, label)
        exit_record = self.shared.exit_record()
        if status is not None and os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            name = _signal_name(number)
            if not running and number == signal.SIGKILL:
                raise MemoryError(f"the check's child process was killed ({name})")
            if not running:
                raise RuntimeError(f"the check's child process died of {name} outside your "
                                   "code")  # fmt: skip
            what = f"{name}{_signal_words(number)}"
            headline = f"your code crashed the process ({what}) during {where}"
            raise UserCodeFailure(
                Failure(CRASH, phase, label, headline, dump_place(dump), signal=name,
                        traceback=dump)
            )  # fmt: skip
        code = os.WEXITSTATUS(status) if status is not None else -1
        if exit_record is None and not running:
            raise RuntimeError(f"the check's child process exited ({code}) without a result")
        shown, place = exit_record if exit_record else (str(code), None)
        headline = f"your code exited the process (os._exit({shown})) during {where}"
        raise UserCodeFailure(Failure(EXIT, phase, label, headline, place, exit_code=code))

    def _stage_words(self) -> str:
        stage = self.shared.stage()
        return "the check" if stage is None else stage_text(*stage)


def _redirect_streams(relay_w: int) -> list[Any]:
    """In the child: fd 1 and 2 → the relay pipe, stdin from /dev/null unless a terminal.

    Returns the replaced stream objects: kept alive, they are never flushed (again)."""
    keep = [sys.stdout, sys.stderr, sys.stdin]
    terminal_out = _is_terminal(sys.stdout) and _is_terminal(sys.stderr)
    os.dup2(relay_w, 1)
    os.dup2(relay_w, 2)
    os.close(relay_w)
    try:
        terminal = os.isatty(0)
    except OSError:
        terminal = False
    if not terminal:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    err = _RelayText(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace",
        line_buffering=True, write_through=True,
    )  # fmt: skip
    err.terminal = terminal_out
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = err
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    return keep


class _RelayText(io.TextIOWrapper):
    """The child's stdout and stderr: a pipe to the parent, which copies it to a terminal
    when its own stdout and stderr are one (so a progress bar or gradcli's spinner shows)."""

    terminal = False

    def isatty(self) -> bool:
        return self.terminal


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream is not None and stream.isatty())  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        return False


def _install_handlers(faults: Any, shared: SharedMonitor, real_exit: Callable[[int], Any]) -> None:
    """faulthandler on crashes and on SIGUSR1 (a timeout); os._exit records where."""
    import faulthandler

    faulthandler.enable(file=faults, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=faults, all_threads=True, chain=False)

    def _exit(code: int) -> None:
        shared.record_exit(usercode.calling_place(sys._getframe(1)), code)
        real_exit(code)

    os._exit = _exit  # type: ignore[assignment]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.close(fd)


def _select(fds: set[int], wait: float) -> list[int]:
    """The descriptors ready to read (or closed) within ``wait`` seconds (poll: any fd number,
    where select stops at 1024)."""
    if not fds:
        time.sleep(wait)
        return []
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return [fd for fd, _ in poller.poll(max(wait, 0.0) * 1000)]


def _drain(fd: int) -> bytes:
    """What can be read from ``fd`` now, without waiting (a grandchild may hold it open)."""
    chunks = []
    with contextlib.suppress(OSError):
        os.set_blocking(fd, False)
        while chunk := os.read(fd, CHUNK):
            chunks.append(chunk)
    return b"".join(chunks)


def _wait_for_dump(faults: Any, grace: float) -> None:
    """Wait until faulthandler's dump has appeared and stopped growing (at most ``grace``)."""
    end = time.monotonic() + grace
    size = -1
    while time.monotonic() < end:
        now = os.fstat(faults.fileno()).st_size
        if now > 0 and now == size:
            return
        size = now
        time.sleep(0.05)


def _read(faults: Any) -> str:
    with contextlib.suppress(OSError, ValueError):
        faults.seek(0)
        return faults.read().decode("utf-8", "replace")
    return ""


class _Relay:
    """The child's output, decoded as it comes, written to this process's stderr."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if text:
            with contextlib.suppress(Exception):
                sys.stderr.write(text)
                sys.stderr.flush()

    def close(self) -> None:
        self.write(b"")
        text = self.decoder.decode(b"", final=True)
        if text:
            with contextlib.suppress(Exception):
                sys.stderr.write(text)


# ------------------------------------------------------------------ faulthandler's dump

_DUMP_FRAME = re.compile(r'^\s+File "(?P<file>.*)", line (?P<line>\d+) in (?P<function>.*)$')


def dump_place(dump: str) -> Place | None:
    """The innermost of the user's frames in a faulthandler dump (most recent call first),
    looking first in the thread that was interrupted."""
    blocks = re.split(r"^(?=(?:Current thread|Thread) 0x)", dump, flags=re.M)
    blocks.sort(key=lambda block: not block.startswith("Current thread"))
    for block in blocks:
        for line in block.splitlines():
            match = _DUMP_FRAME.match(line)
            if match and usercode.is_user_file(match["file"]):
                return Place(match["file"], int(match["line"]), match["function"].strip())
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _signal_words(number: int) -> str:
    words = {
        signal.SIGSEGV: "segmentation fault",
        signal.SIGBUS: "bus error",
        signal.SIGFPE: "arithmetic error",
        signal.SIGILL: "illegal instruction",
        signal.SIGABRT: "abort",
        signal.SIGKILL: "killed: out of memory?",
    }.get(number)
    return f", {words}" if words else ""


__all__ = ["EXCEPTION", "SharedMonitor", "available", "contain", "dump_place", "in_process"]
