"""Keys for the foreground dashboard: ``q`` quits (as Ctrl-C does), the terminal is restored.

The terminal goes into cbreak mode (keys arrive one by one, not echoed; Ctrl-C still
sends SIGINT) for as long as the dashboard runs, and its settings are put back on
the way out whatever ends the dashboard — ``q``, Ctrl-C, ``down`` or an error.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

QUIT_KEYS = frozenset("qQ")


@contextmanager
def quit_key(on_quit: Callable[[], None]) -> Iterator[None]:
    """Call ``on_quit`` (from a reader thread) when ``q`` is pressed; no-op off a terminal."""
    if not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(fd, stop, on_quit), daemon=True)
    try:
        tty.setcbreak(fd)
        reader.start()
        yield
    finally:
        stop.set()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read(fd: int, stop: threading.Event, on_quit: Callable[[], None]) -> None:
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.2)  # wakes to notice ``stop``
        if not ready:
            continue
        try:
            data = os.read(fd, 32)
        except OSError:
            return
        if not data:
            return
        if QUIT_KEYS & set(data.decode(errors="replace")):
            on_quit()
            return
