"""customers.csv and products.csv: read, typed, and checked.

Each CSV is read once, as text (`read_customers_file`, `read_products_file`); the typed table
and the findings of the checks are pure functions of that text.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import polars as pl

from assets_pkg.purchases import schemas
from assets_pkg.purchases.feed import read_regular_file
from assets_pkg.shared.location import Location
from assets_pkg.shared.storage import first_line

LOYALTY_SCORES = (1, 10)
"""The valid loyalty scores, inclusive; anything else is kept as null."""


class SourceError(ValueError):
    """An input file is missing or unreadable; the message names it and what to do."""


class AmbiguousCatalogError(ValueError):
    """customers.csv or products.csv repeats an id or has a row without one, so a join on
    the id would double or invent rows."""


def read_customers_file(path: Location) -> pl.DataFrame:
    """customers.csv as written: `customer_id`, `loyalty_score`, both text, in file order."""
    return _read_csv(path, list(schemas.CUSTOMERS))


def read_products_file(path: Location) -> pl.DataFrame:
    """products.csv as written (quoted descriptions may hold commas), in file order."""
    return _read_csv(path, list(schemas.PRODUCTS))


def customers_from(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed customers, in file order. A loyalty score that is not a whole number from 1 to
    10 becomes null (`invalid_loyalty` lists them), so that the customer still appears in
    every week."""
    return raw.select(
        pl.col("customer_id").str.strip_chars(),
        pl.when(_valid_score()).then(_score()).alias("loyalty_score"),
    )


def products_from(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed products, in file order, surrounding spaces removed."""
    return raw.select(pl.col(name).str.strip_chars() for name in schemas.PRODUCTS)


def read_customers(path: Path) -> pl.DataFrame:
    return customers_from(read_customers_file(Location.of(path)))


def read_products(path: Path) -> pl.DataFrame:
    return products_from(read_products_file(Location.of(path)))


def invalid_loyalty(raw: pl.DataFrame) -> pl.DataFrame:
    """Rows of customers.csv whose loyalty score is missing, not a whole number, or outside
    1..10, with the score as written."""
    return raw.filter(~_valid_score().fill_null(False)).select("customer_id", "loyalty_score")


def duplicate_or_empty_ids(frame: pl.DataFrame, id_column: str) -> list[str]:
    """Ids that appear more than once, and `<empty>` if some row has no id: sorted."""
    ids = frame.get_column(id_column)
    empty = ids.is_null() | (ids == "")
    duplicated = frame.filter(ids.is_duplicated() & ~empty)
    bad = sorted(set(duplicated.get_column(id_column).to_list()))
    if empty.any():
        bad.append("<empty>")
    return bad


def require_unique_ids(frame: pl.DataFrame, id_column: str, file: str) -> None:
    """Raise AmbiguousCatalogError naming the ids that `file` repeats or leaves empty."""
    bad = duplicate_or_empty_ids(frame, id_column)
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise AmbiguousCatalogError(
            f"{file} has {len(bad)} duplicate or empty {id_column} value(s) ({shown}); "
            "give each row its own id, then re-run."
        )


def _score() -> pl.Expr:
    return pl.col("loyalty_score").str.strip_chars().cast(pl.Int64, strict=False)


def _valid_score() -> pl.Expr:
    return _score().is_between(*LOYALTY_SCORES)


def _read_csv(path: Location, columns: list[str]) -> pl.DataFrame:
    text = None
    try:
        if not path.exists():
            raise SourceError(
                f"{path} does not exist: put {path.name} there or point PURCHASES_SOURCE_DIR "
                "at the folder that holds it."
            )
        if not path.is_file():  # a folder, a FIFO, a device: never opened
            raise SourceError(f"{path} is not a regular file: put the {path.name} file there.")
        # Read once: the checks below read the text, polars parses the same bytes.
        data = _read_source_file(path)
        text = _utf8(data)
        if text is not None:
            _check_text(path, text)
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8")
    except pl.exceptions.PolarsError as error:
        raise SourceError(_why_unreadable(path, text, error)) from None
    except OSError as error:  # permissions, a read error
        raise SourceError(
            f"{path} cannot be read ({error.strerror or error}): make it readable to the user "
            "running Dagster, or point PURCHASES_SOURCE_DIR at a readable copy."
        ) from None
    # Header cells are trimmed like every other cell (`customer_id, loyalty_score`).
    frame = frame.rename({name: name.strip() for name in frame.columns if name.strip()})
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SourceError(
            f"{path} must have the header {','.join(columns)}; "
            f"it lacks {', '.join(missing)} (found {','.join(frame.columns)})."
        )
    # A line without a single value (blank, white space, separators only) holds no row: it is
    # skipped like a blank line, where a row with any value but no id is refused by the checks.
    has_a_value = pl.any_horizontal(
        pl.col(name).str.strip_chars().fill_null("") != "" for name in frame.columns
    )
    return frame.filter(has_a_value).select(columns)


def _read_source_file(path: Location) -> bytes:
    """The bytes of a CSV under the rule for every source file (docs/purchases.md): a local
    file must resolve to a regular file inside its source folder, like a day file; a link
    leading outside it is never followed. An object is read with one request."""
    if not path.is_local:
        data: bytes = path.path.read_bytes()
        return data
    try:
        return read_regular_file(path.local, path.local.parent.resolve())
    except ValueError as refused:
        reason = str(refused).removesuffix(": never read")
        article = "" if reason.startswith(("resolves", "not ")) else "a "
        what = reason if reason.startswith("resolves") else f"is {article}{reason}"
        raise SourceError(
            f"{path} is never read: it {what}; source files are only read inside the source "
            f"folder, so copy {path.name} there instead of linking to it."
        ) from None


def _utf8(data: bytes) -> str | None:
    """The file's text without a byte order mark, or None if it is not UTF-8 (polars then
    says so)."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None


def _check_text(path: Location, text: str) -> None:
    """Refuse, naming the line, what polars would misread or refuse without saying where:
    a quote RFC 4180 does not allow, a line ended by a carriage return alone (polars would
    join it to the next one), a column named twice (unnamed extra columns, from trailing
    commas, are no names)."""
    problem = _misplaced_quote_or_lone_cr(text)
    if problem is not None:
        line, what = problem
        raise SourceError(f"{path} line {line} {what}")
    header = [name.strip() for name in next(csv.reader(io.StringIO(text, newline="")), [])]
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        raise SourceError(
            f"{path} names the column(s) {', '.join(twice)} more than once in its header: keep "
            "one column of each name."
        )


def _why_unreadable(path: Location, text: str | None, error: Exception) -> str:
    """One sentence naming the first line that has more fields than the header, when that is
    what polars refused; polars' own message otherwise."""
    if text is not None:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, [])
        try:
            for row in rows:
                if len(row) > len(header):
                    return (
                        f"{path} line {rows.line_num} has {len(row)} fields but the header "
                        f"has {len(header)}: quote a value that holds a comma, or remove the "
                        "extra field."
                    )
        except csv.Error:
            pass
    return f"{path} is not a readable CSV file: {first_line(error)}"


_QUOTE_INSIDE = (
    "has a quote inside a value that does not start with one: quote the whole value and "
    'double the quote inside ("27"" monitor"), or remove it.'
)
_TEXT_AFTER = (
    "has text after the closing quote of a value: put all of the value inside the quotes, or "
    "remove what follows them."
)
_UNCLOSED = "opens a quoted value that is never closed: add the closing quote."
_LONE_CR = (
    "ends with a carriage return alone (an old Mac line ending): save the file with Unix (LF) "
    "or Windows (CRLF) line endings."
)
_LONE_CR_RE = re.compile(r"\r(?!\n)")


def _misplaced_quote_or_lone_cr(text: str) -> tuple[int, str] | None:
    """The line of the first quote RFC 4180 does not allow (quotes only around a whole value,
    doubled inside it), or of the first line ended by a carriage return alone outside a
    quoted value, and what is wrong with it; None if there is neither."""
    if '"' not in text:
        lone = _LONE_CR_RE.search(text)
        return None if lone is None else (text.count("\n", 0, lone.start()) + 1, _LONE_CR)
    line, opened_on, quoted, closed, at_start = 1, 1, False, False, True
    for position, character in enumerate(text):
        if quoted:
            if character == '"':
                quoted, closed = False, True  # the closing quote, or the first of a doubled one
            elif character == "\n":
                line += 1
            continue
        if closed:
            closed = False
            if character == '"':
                quoted = True  # a doubled quote: the value goes on
                continue
            if character not in ",\r\n":
                return line, _TEXT_AFTER
        if character == '"':
            if not at_start:
                return line, _QUOTE_INSIDE
            quoted, opened_on = True, line
        elif character == "\n":
            line += 1
        elif character == "\r" and text[position + 1 : position + 2] != "\n":
            return line, _LONE_CR
        at_start = character in ",\r\n"
    return (opened_on, _UNCLOSED) if quoted else None
