"""Tables that fit the terminal's width: columns dropped by priority, free text shortened.

A column is `whole` (never cut, never dropped: ids and statuses, which commands take), `fixed`
(shown whole or dropped) or `flex` (free text: at least FLEX_MIN wide, shortened with an
ellipsis). The least important columns go first until the rest fits; what width is left goes
to the flex columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.table import Table
from rich.text import Text

FLEX_MIN = 12          # a free-text column below this width is dropped instead
GAP = 3                # between two columns: the padding either side and the box's divider


@dataclass(frozen=True)
class Col:
    name: str
    priority: int                       # lower goes first when the width runs out
    cell: Callable[[object], str | Text]
    kind: str = "fixed"                 # whole: never cut or dropped | fixed | flex (ellipsis)


def _len(cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(cell)


def fit_table(title: str, cols: Sequence[Col], items: Sequence, width: int) -> Table:
    """A table of `items` whose columns fit `width`, the least important dropped first."""
    cells = [[col.cell(item) for col in cols] for item in items]
    natural = natural_widths(cols, cells)
    need = [min(n, FLEX_MIN) if col.kind == "flex" else n for n, col in zip(natural, cols)]
    kept = [i for i, col in enumerate(cols)   # a column with nothing to say takes no room
            if col.kind == "whole" or any(_len(row[i]) for row in cells)]
    while sum(need[i] for i in kept) + GAP * (len(kept) - 1) > width:
        droppable = [i for i in kept if cols[i].kind != "whole"]
        if not droppable:
            break
        kept.remove(min(droppable, key=lambda i: cols[i].priority))
    widths = _share(width - GAP * (len(kept) - 1), {i: need[i] for i in kept},
                    {i: natural[i] for i in kept if cols[i].kind == "flex"})
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 1), expand=False, title_style="bold")
    for i in kept:
        table.add_column(cols[i].name, no_wrap=True, overflow="ellipsis", width=widths[i])
    for row in cells:
        table.add_row(*(row[i] for i in kept))
    return table


def natural_widths(cols: Sequence[Col], cells: list[list]) -> list[int]:
    return [max([len(col.name), *(_len(row[i]) for row in cells)]) for i, col in enumerate(cols)]


def _share(room: int, need: dict[int, int], flex: dict[int, int]) -> dict[int, int]:
    """Every column its need; what is left goes to the free-text columns, up to their natural
    width, the narrowest first so a short one does not hold space a long one could use."""
    widths = dict(need)
    left = room - sum(need.values())
    for n, i in enumerate(sorted(flex, key=lambda i: flex[i])):
        give = min(flex[i] - widths[i], max(left, 0) // (len(flex) - n))
        widths[i] += max(give, 0)
        left -= max(give, 0)
    return widths
