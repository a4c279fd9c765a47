"""The log formatter of the supervisor's and the workers' files (apart from textsafe.py, so
that a short command, which logs nothing, does not import ``logging``)."""

from __future__ import annotations

import logging

from claude_orchestrator.textsafe import escape


class EscapingFormatter(logging.Formatter):
    """Log lines for a terminal or a log file people tail: a message may quote task text."""

    def format(self, record: logging.LogRecord) -> str:
        return escape(super().format(record))  # newlines kept: tracebacks stay readable
