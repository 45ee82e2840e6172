"""Text written where a spreadsheet will open it: a cell that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return is a formula to Excel, LibreOffice and Google Sheets (formula injection: a prompt such as
`=HYPERLINK(...)` would run when `sweep.csv` is opened). `cell` prefixes such text with `'`, which the
spreadsheet shows as plain text; numbers and everything else are written unchanged.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """`value` as safe to write into a CSV cell: text beginning like a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
