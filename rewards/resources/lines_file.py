"""The purchases' second file, the lines file, read whole and claimed by the purchases."""

from django.utils.translation import gettext

from loyalty_site.files.importing import Outcome
from members.services import LineData


def _in_lines_file(column: str) -> str:
    """An error's column in the lines file, so that staff know which file the line number is in."""
    return f"{column} ({gettext('lines file')})" if column else gettext("lines file")


class _LinesFile:
    """The lines file of a purchases import, read once; each purchase takes (claims) its lines in the preview.

    The whole file is held in memory until the purchases claim it, so a line is kept as a flat tuple of
    shared values (a product's name, category and amounts repeat over a file): about 200 bytes a line
    instead of 550 as LineData objects, so a million-line file is ~200 MB at the start of the preview.
    """

    def __init__(self):
        # (source, purchase id) -> [(line number, sku, name, category, quantity, amount) or (line number, errors)]
        self.by_key: dict[tuple[str, str], list[tuple]] = {}
        self.loose: list[Outcome] = []  # rows with no usable purchase id
        self._shared: dict = {}

    def add(self, key: tuple[str, str], number: int, line: LineData | None, errors: list) -> None:
        if errors or line is None:
            entry = (number, errors)
        else:
            share = self._shared.setdefault
            entry = (
                number,
                share(line.sku, line.sku),
                share(line.product_name, line.product_name),
                share(line.category, line.category),
                share(line.quantity, line.quantity),
                share(line.amount, line.amount),
            )
        self.by_key.setdefault(key, []).append(entry)

    @staticmethod
    def unpack(entry: tuple) -> tuple[int, LineData | None, list | None]:
        if len(entry) == 2:
            return entry[0], None, entry[1]
        number, sku, product_name, category, quantity, amount = entry
        line = LineData(sku=sku, product_name=product_name, category=category, quantity=quantity, amount=amount)
        return number, line, None

    def claim(self, key: tuple[str, str]) -> list[tuple[int, LineData | None, list | None]]:
        return [self.unpack(entry) for entry in self.by_key.pop(key, [])]


class _NoLines:
    """No lines file: nothing to claim."""

    @staticmethod
    def claim(key: tuple[str, str]) -> list:
        return []
