"""The result store: a folder of Parquet part files, one per finished chunk of points.

Each part is written atomically (:mod:`eiecore.atomic`: temporary name, then rename), so a
crash or Ctrl-C at any moment leaves only whole parts; temporaries end in ``.tmp``, so outside
readers can take every ``*.parquet`` of the folder (``duckdb``: ``read_parquet('store/*.parquet')``);
stray temporaries are ignored and removed by a later open once the process that wrote them is
gone. Every row carries ``point_hash``; readers keep the first row of
each hash, so even two runs racing on one store never show a point twice.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eiecore.atomic import remove_stale_temporaries, write_atomic
from eiecore.errors import EieError

PART_GLOB = "part-*.parquet"


class ResultStore:
    """Append-only Parquet rows keyed by ``point_hash``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise EieError(f"result store {self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)

    def parts(self) -> list[Path]:
        return sorted(self.path.glob(PART_GLOB))

    def write(self, rows: list[dict]) -> Path | None:
        """Add rows as one new part, atomically. Returns the part's path."""
        if not rows:
            return None
        table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
        final = self.path / f"part-{uuid.uuid4().hex}.parquet"
        return write_atomic(final, lambda tmp: pq.write_table(table, tmp), tmp_suffix=".tmp")

    def done_hashes(self) -> set[str]:
        """Hashes of the points already in the store."""
        done: set[str] = set()
        for part in self.parts():
            done.update(pq.read_table(part, columns=["point_hash"]).column(0).to_pylist())
        return done

    def read(self, hashes: set[str] | None = None) -> pd.DataFrame:
        """All rows (or those of ``hashes``), one per point, in the order they were written."""
        parts = self.parts()
        if not parts:
            return pd.DataFrame()
        frames = [pq.read_table(p).to_pandas() for p in sorted(parts, key=lambda p: p.stat().st_mtime_ns)]
        df = pd.concat(frames, ignore_index=True).drop_duplicates("point_hash", keep="first")
        if hashes is not None:
            df = df[df["point_hash"].isin(hashes)]
        return df.reset_index(drop=True)
