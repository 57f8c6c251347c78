"""Small HTML helpers shared by the report's sections."""

from __future__ import annotations


def table(headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """An HTML table; each row is (css class, cells already escaped)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(f"<tr class='{cls}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cls, cells in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def runs_details(runs, headers: list[str], cells_of) -> str:
    """A collapsed table listing the MLflow runs behind a section, one row per run."""
    rows = [("", cells_of(r)) for r in runs]
    return f"<details><summary>{len(runs)} runs behind this section</summary>{table(headers, rows)}</details>"
