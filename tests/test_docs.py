"""The docs stay true to the code."""

from pathlib import Path

from loyalty_site.files.importing import HANDLERS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_imports_doc_lists_every_column_of_every_import():
    text = (DOCS / "imports.md").read_text(encoding="utf-8")
    for kind, handler in HANDLERS.items():
        assert f"`{kind}`" in text
        for column in handler.columns:
            assert f"`{column.name}`" in text, f"{kind}.{column.name} is missing from docs/imports.md"
        for column in getattr(handler, "lines_columns", None) or []:
            assert f"`{column.name}`" in text, f"{kind} lines file: {column.name} is missing from docs/imports.md"
