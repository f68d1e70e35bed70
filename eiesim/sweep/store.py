"""The result store: a folder of Parquet part files, one per finished chunk of points.

Each part is written atomically (:mod:`eiecore.atomic`: temporary name, then rename), so a
crash or Ctrl-C at any moment leaves only whole parts; temporaries end in ``.tmp``, so outside
readers can take every ``*.parquet`` of the folder (``duckdb``: ``read_parquet('store/*.parquet')``);
stray temporaries are ignored and removed by a later open once the process that wrote them is
gone. A part that cannot be read (truncated, empty, garbage, or without ``point_hash``) is moved
to ``_quarantine/`` with one warning, and its points count as not done, so the next run computes
them again. Every row carries ``point_hash``; readers keep the first row of
each hash, so even two runs racing on one store never show a point twice.

The folder stays one dataset for outside readers (``pandas.read_parquet(store)``, DuckDB's
``read_parquet('store/*.parquet')``): the quarantine, temporaries and a layer cache put
inside it (``--cache-dir`` = ``--out``) all start with ``_`` or ``.``, which Parquet dataset
readers skip, and no part has a column of Arrow's ``null`` type: a column every row of a
part leaves empty has its declared type (:func:`rows_table`'s ``types``; a sweep declares
the configuration's), so parts with and without a value in it read as one schema.
"""

from __future__ import annotations

import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from eiecore.atomic import remove_stale_temporaries, write_atomic
from eiecore.errors import EieError, EieWarning

if TYPE_CHECKING:
    import pandas as pd

PART_GLOB = "part-*.parquet"
QUARANTINE = "_quarantine"


def rows_table(rows: list[dict], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Rows as one Arrow table: a column per key any row has, in first-seen order, null in
    the rows without it (built column by column, without pandas: 10x faster). ``types``
    gives columns their Arrow type; a column of nulls alone needs one (else
    :class:`EieError`), so no part holds an untyped column."""
    types = types or {}
    columns = dict.fromkeys(key for row in rows for key in row)
    table = pa.table({key: pa.array([row.get(key) for row in rows], type=types.get(key)) for key in columns})
    untyped = [f.name for f in table.schema if pa.types.is_null(f.type)]
    if untyped:
        raise EieError(f"result rows: column {untyped[0]!r} holds only nulls and has no declared type")
    return table


def _written(part: Path) -> tuple[int, str]:
    """When a part was written: the time its name starts with, else (a part named before
    names carried it) its modification time."""
    stamp = part.name.split("-")[1]
    return (int(stamp) if len(stamp) == 20 and stamp.isdigit() else part.stat().st_mtime_ns), part.name


class ResultStore:
    """Append-only Parquet rows keyed by ``point_hash``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise EieError(f"result store {self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)

    def parts(self) -> list[Path]:
        """The readable parts; a damaged or foreign one is quarantined (see :meth:`_quarantine`)."""
        healthy = []
        for part in sorted(self.path.glob(PART_GLOB)):
            try:
                schema = pq.read_schema(part)
                if "point_hash" not in schema.names:
                    raise ValueError("no point_hash column")
                pq.read_metadata(part)
            except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
                self._quarantine(part, exc)
            else:
                healthy.append(part)
        return healthy

    def _quarantine(self, part: Path, exc: Exception) -> None:
        """Move a bad part into ``_quarantine/`` (kept for inspection) so its points run again."""
        folder = self.path / QUARANTINE
        folder.mkdir(exist_ok=True)
        try:
            part.replace(folder / part.name)
        except FileNotFoundError:
            return  # another run moved it first
        warnings.warn(EieWarning(f"result store {self.path}: part {part.name} is unreadable "
                                 f"({' '.join(str(exc).split())[:120]}); moved to {QUARANTINE}/, its points "
                                 "will be computed again"), stacklevel=2)

    def write(self, rows: pa.Table | list[dict]) -> Path | None:
        """Add rows (a table, or dicts: see :func:`rows_table`) as one new part, atomically.
        Returns the part's path, None for no rows."""
        table = rows if isinstance(rows, pa.Table) else rows_table(rows)
        if table.num_rows == 0:
            return None
        untyped = [f.name for f in table.schema if pa.types.is_null(f.type)]
        if untyped:
            raise EieError(f"result store {self.path}: column {untyped[0]!r} has no type (only nulls)")
        # The name starts with the write time, so parts read back in write order even where
        # two writes share a file-system timestamp, or a copy of the store reset them.
        final = self.path / f"part-{time.time_ns():020d}-{uuid.uuid4().hex}.parquet"
        return write_atomic(final, lambda tmp: pq.write_table(table, tmp), tmp_suffix=".tmp")

    def done_hashes(self) -> set[str]:
        """Hashes of the points already in the store."""
        done: set[str] = set()
        for part in self.parts():
            try:
                done.update(pq.read_table(part, columns=["point_hash"]).column(0).to_pylist())
            except Exception as exc:  # damaged beyond its footer
                self._quarantine(part, exc)
        return done

    def read(self, hashes: set[str] | None = None) -> pd.DataFrame:
        """All rows (or those of ``hashes``), one per point, in the order they were written."""
        import pandas as pd  # here: sweep workers import this module, and only write tables

        parts = self.parts()
        if not parts:
            return pd.DataFrame()
        frames = []
        for part in sorted(parts, key=_written):
            try:
                frames.append(pq.read_table(part).to_pandas())
            except Exception as exc:  # damaged beyond its footer
                self._quarantine(part, exc)
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True).drop_duplicates("point_hash", keep="first")
        if hashes is not None:
            df = df[df["point_hash"].isin(hashes)]
        return df.reset_index(drop=True)
