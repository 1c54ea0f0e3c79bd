"""Reading the CSV a matching run is given: only the columns it uses, parsed by Arrow.

pandas.read_csv takes about ten seconds for ten million rows on one core; Arrow's
reader takes one or two on two. Columns come out typed as pandas.read_csv types them:
numbers as int64/float64 (float64 where a number is missing), true/false as bool,
anything else as text (Arrow's dates and times are read again as text, so a
categorical covariate keeps the labels the user typed), pandas' missing-value words.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from reval.matching.errors import MatchingError

# pandas.read_csv's default missing-value words (pandas._libs.parsers.STR_NA_VALUES)
MISSING = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
           "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]  # fmt: skip


def read_matching_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    """The named columns of ``path`` that exist (a missing one is reported by ``match``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError as error:
        raise MatchingError(
            f"{path.name} is not UTF-8 text: save it as 'CSV UTF-8' and try again.",
            reason="unreadable_file",
        ) from error
    wanted = [name for name in dict.fromkeys(columns) if name in header]

    def read(types: dict[str, object]) -> pa.Table:
        options = pacsv.ConvertOptions(
            include_columns=wanted, column_types=types, null_values=MISSING,
            strings_can_be_null=True, quoted_strings_can_be_null=True,
        )  # fmt: skip
        try:
            # the system allocator: with Arrow's default (mimalloc) the kernel time of a
            # gigabyte-sized read doubled the reading time on a busy two-core machine
            return pacsv.read_csv(
                path, convert_options=options, memory_pool=pa.system_memory_pool()
            )
        except (pa.ArrowInvalid, pa.ArrowKeyError) as error:
            raise MatchingError(
                f"Could not read {path.name} as CSV: {error}", reason="unreadable_file"
            ) from error

    table = read({})
    kept = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean,
            pa.types.is_string, pa.types.is_null)  # fmt: skip
    as_text = {
        field.name: pa.string()
        for field in table.schema
        if not any(is_kind(field.type) for is_kind in kept)
    }
    if as_text:
        table = read(as_text)
    empty = [field.name for field in table.schema if pa.types.is_null(field.type)]
    for name in empty:  # a column with no values at all: float NaN, as pandas reads it
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.nulls(len(table), pa.float64())
        )
    return table.to_pandas()
