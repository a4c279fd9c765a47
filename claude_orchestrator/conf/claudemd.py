"""The team's section of a CLAUDE.md: the text between two marker comments, owned by ``setup``.

Pure text functions. Everything outside the markers is the user's and is kept byte for byte;
removing a section also drops the blank line that set it apart, so adding then removing gives
the user's text back (plus a final newline if it had none).
"""

from __future__ import annotations

from claude_orchestrator.errors import ConfigError

BEGIN = "<!-- claude-orchestrator:begin -->"
END = "<!-- claude-orchestrator:end -->"


def inner(section: str) -> str:
    """What ``with_section`` puts between the markers for ``section``."""
    return "\n" + (section if section.endswith("\n") else section + "\n")


def body(text: str, where: str) -> str | None:
    """The text between the markers, or None when ``text`` has no section."""
    span = _span(text, where)
    return None if span is None else text[span[0] + len(BEGIN) : span[1] - len(END)]


def with_section(text: str, section: str, where: str) -> str:
    """``text`` with its section replaced in place, or appended when it has none."""
    block = BEGIN + inner(section) + END
    span = _span(text, where)
    if span is not None:
        return text[: span[0]] + block + text[span[1] :]
    if not text:
        return block + "\n"
    return text + ("\n" if text.endswith("\n") else "\n\n") + block + "\n"


def without_section(text: str, where: str) -> str:
    """``text`` without its section (and the line break after it)."""
    span = _span(text, where)
    if span is None:
        return text
    head, tail = text[: span[0]], text[span[1] :]
    tail = tail.removeprefix("\n")
    if head.endswith("\n\n") and (not tail or tail.startswith("\n")):
        head = head[:-1]  # the blank line that set the section apart
    return head + tail


def _span(text: str, where: str) -> tuple[int, int] | None:
    """(start of the begin marker, end of the end marker); broken markers are refused, as
    guessing where the section ends could delete the user's text."""
    begins, ends = text.count(BEGIN), text.count(END)
    if begins == ends == 0:
        return None
    if begins != 1 or ends != 1 or text.index(END) < text.index(BEGIN):
        raise ConfigError(
            f"{where}: expected one '{BEGIN}' followed by one '{END}', found {begins} and "
            f"{ends}{' in the wrong order' if begins == ends == 1 else ''}: fix the markers "
            "or delete the team section"
        )
    return text.index(BEGIN), text.index(END) + len(END)
