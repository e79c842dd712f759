"""One operator's console on a terminal of its own: `shiftdesk tui` as a child process on a
fresh pty, its bytes copied to and from the SSH channel by the server.

A process per console, not the console inside the server: each console is the same
program an operator runs locally (same rendering, same key handling), and a console
that crashes or hangs takes no one else's session with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
from collections.abc import Callable, Mapping

READ_CHUNK = 65536


def _take_terminal() -> None:
    # In the child, after setsid: the pty becomes its controlling terminal, so closing the
    # master (the SSH session gone, the server killed) hangs it up and the console ends,
    # instead of spinning on a dead terminal.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def set_size(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class ConsoleProcess:
    """A child process on a pty; `on_output` gets what it writes, `on_exit` its exit code."""

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        size: tuple[int, int],
        secret: bytes,
        on_output: Callable[[bytes], None],
        on_exit: Callable[[int], None],
    ) -> None:
        """`secret` is readable once by the child from the file named by the `{secret}`
        placeholder in `command` (a pipe: never an argument or an environment variable)."""
        self._on_output = on_output
        self._on_exit = on_exit
        self._loop = asyncio.get_running_loop()
        self._pending = bytearray()  # keystrokes the pty could not take yet
        self._reading = False
        self.returncode: int | None = None
        self.done = asyncio.Event()
        self.master, slave = os.openpty()
        set_size(slave, *size)
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, secret)  # a token is far below the pipe's buffer
        finally:
            os.close(write_end)
        argv = [part.replace("{secret}", f"/dev/fd/{read_end}") for part in command]
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env),
                pass_fds=(read_end,),
                preexec_fn=_take_terminal,  # noqa: PLW1509 - TIOCSCTTY has no other way in
                close_fds=True,
            )
        finally:
            os.close(slave)
            os.close(read_end)
        os.set_blocking(self.master, False)
        self._pidfd = os.pidfd_open(self.proc.pid)
        self._loop.add_reader(self._pidfd, self._exited)
        self.resume_output()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pause_output(self) -> None:
        """The SSH client is not keeping up: stop reading; the console blocks on its writes."""
        if self._reading:
            self._loop.remove_reader(self.master)
            self._reading = False

    def resume_output(self) -> None:
        if not self._reading and self.master >= 0:
            self._loop.add_reader(self.master, self._readable)
            self._reading = True

    def _readable(self) -> None:
        try:
            data = os.read(self.master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: every end of the terminal closed (the console has gone)
            data = b""
        if data:
            self._on_output(data)
        else:
            self.pause_output()

    def write(self, data: bytes) -> None:
        """Keystrokes to the console, queued while the pty's input buffer is full (a paste)."""
        if self.master < 0:
            return
        if self._pending:
            self._pending += data
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            while self._pending:
                sent = os.write(self.master, self._pending)
                del self._pending[:sent]
        except BlockingIOError:
            self._loop.add_writer(self.master, self._writable)
            return
        except OSError:
            self._pending.clear()

    def _writable(self) -> None:
        self._loop.remove_writer(self.master)
        self._flush()

    def resize(self, columns: int, rows: int) -> None:
        """The client's window changed: the console redraws at the new size (SIGWINCH from the
        kernel, since the pty is its controlling terminal)."""
        if self.master >= 0 and columns > 0 and rows > 0:
            with contextlib.suppress(OSError):
                set_size(self.master, columns, rows)

    def _exited(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self.returncode = self.proc.wait()
        # What the console wrote last (its terminal restored) is still in the pty: pass it on.
        while self.master >= 0:
            try:
                data = os.read(self.master, READ_CHUNK)
            except OSError:
                break
            if not data:
                break
            self._on_output(data)
        self._close_master()
        self.done.set()
        self._on_exit(self.returncode)

    def _close_master(self) -> None:
        if self.master >= 0:
            self.pause_output()
            if self._pending:
                self._loop.remove_writer(self.master)
                self._pending.clear()
            os.close(self.master)
            self.master = -1

    async def stop(self, grace: float = 2.0) -> None:
        """End the console: a hangup (the terminal went away), then SIGTERM, then SIGKILL."""
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
            if self.returncode is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), grace)
