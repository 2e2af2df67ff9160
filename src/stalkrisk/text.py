"""Values echoed back to people: clipped with a count, and safe on a terminal.

Case data reaches messages, pages and the terminal. A 1 MB case id must not make a 2 MB
error line or index page, and a case id or reason holding terminal escapes (``ESC[2J``)
must not drive the analyst's terminal: what is printed shows them as ``\\x1b``.
"""

from __future__ import annotations

import re

#: Longest echo of one value: a contract id is at most 64 characters.
MAX_ECHO = 120
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clip(value: object, limit: int = MAX_ECHO) -> str:
    """``value`` as text, at most ``limit`` characters then ``… (+N characters)``."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (+{len(text) - limit:,} characters)"


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences, CR, bell...) shown as ``\\xNN``;
    tabs and line breaks are kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)
