"""Every result file the project writes and reads: atomic .npz, provenance, the streamed Parquet dataset.

- ``.npz`` (``analyze``, the app's export, a consolidated batch): numpy arrays plus ``provenance``, a JSON string
  (``json.loads(str(np.load(path)["provenance"]))`` reads it without this package).
- A batch **dataset** directory, written as the batches finish, so memory stays flat however many images:

      DIR/metadata.json             {"provenance": {...}, "model": {"num_prefix_tokens", "grid_size", ...}}
      DIR/analysed/part-NNNNN.parquet  one row per analysed image: path, then one column per array
                                       (Arrow fixed_shape_tensor, float32 / int64)
      DIR/failed/part-NNNNN.parquet    path, failed_reason: images that could not be decoded

  Each shard is written to a temporary name and renamed when complete, so a run killed at any moment leaves
  only finished shards, and a rerun reads only their ``path`` columns to know what is done. pandas
  (``pd.read_parquet(DIR / "analysed")``), pyarrow and Ray Data (``ray.data.read_parquet``) read it as it is.
- ``--out RESULT.npz`` keeps its dataset in ``RESULT.npz.parts/`` and is consolidated once at the end, one
  array and one shard at a time (memory: one shard's column, not the whole result).

One module owns these formats, so the plain batch, the Ray path and ``analyze`` write the same files.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import ResultFileError
from .provenance import Provenance

__all__ = [
    "NpzResult",
    "PROVENANCE_KEY",
    "ResultStore",
    "dataset_dir",
    "read_provenance",
    "with_provenance",
    "write_npz_atomically",
    "write_shard",
]

PROVENANCE_KEY = "provenance"
_METADATA = "metadata.json"
_ANALYSED = "analysed"
_FAILED = "failed"


@contextmanager
def _atomic(path: Path, mode: str = "wb") -> Iterator:
    """A file handle whose content appears at `path` only when the block finishes (readers see old or new)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".partial", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # an ordinary file, not mkstemp's owner-only one
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def with_provenance(arrays: Mapping[str, np.ndarray], provenance: Provenance | None) -> dict[str, np.ndarray]:
    """`arrays` plus the provenance as a JSON string under ``PROVENANCE_KEY`` (numpy reads it without pickle)."""
    out = dict(arrays)
    if provenance is not None:
        out[PROVENANCE_KEY] = np.asarray(provenance.to_json())
    return out


def write_npz_atomically(path: Path, arrays: Mapping[str, np.ndarray], *, compressed: bool = False) -> None:
    """Write an .npz so that readers see either the old file or the complete new one, never a part."""
    with _atomic(Path(path)) as handle:
        (np.savez_compressed if compressed else np.savez)(handle, **arrays)


class NpzResult:
    """The .npz side of a frozen result dataclass whose fields are its .npz keys (plus ``provenance``): the one home
    of writing and reading them, for :class:`~vit_core.results.result.AnalysisResult` and
    :class:`~vit_core.inside.inspection.InspectionResult`.

    A subclass names in :attr:`NOT_THIS_KIND` the sentence for a readable .npz that lacks its required fields (those
    without a None default), with ``{file}`` and ``{missing}`` to fill.
    """

    NOT_THIS_KIND = "{file} is not a result file (no {missing})."

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays present, by their .npz key (provenance not included)."""
        return {f.name: value for f in fields(self)
                if f.name != PROVENANCE_KEY and (value := getattr(self, f.name)) is not None}

    def to_npz(self, file: str | Path | BinaryIO, *, compressed: bool = False) -> None:
        """Write every array and the provenance (a JSON string under ``provenance``) to an .npz; a path is
        replaced atomically, a file object (e.g. ``io.BytesIO``) written in place."""
        arrays = with_provenance(self.arrays(), self.provenance)
        if isinstance(file, str | Path):
            write_npz_atomically(Path(file), arrays, compressed=compressed)
        else:
            (np.savez_compressed if compressed else np.savez)(file, **arrays)

    def npz_bytes(self, *, compressed: bool = True) -> bytes:
        """The .npz as bytes (what a download button serves)."""
        buffer = io.BytesIO()
        self.to_npz(buffer, compressed=compressed)
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, file: str | Path | BinaryIO):
        """Read an .npz that :meth:`to_npz` (or the command that writes this kind) wrote.

        Raises:
            ResultFileError: unreadable, or not a file of this kind.
        """
        try:
            with np.load(file, allow_pickle=False) as data:
                stored = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise ResultFileError(f"{file} is not a readable .npz ({type(error).__name__}); check the path.") from error
        names = {f.name for f in fields(cls)} - {PROVENANCE_KEY}
        required = {f.name for f in fields(cls) if f.default is not None and f.name != PROVENANCE_KEY}
        missing = sorted(required - set(stored))
        if missing:
            raise ResultFileError(cls.NOT_THIS_KIND.format(file=file, missing=", ".join(missing[:3])))
        provenance = Provenance.from_json(str(stored[PROVENANCE_KEY])) if PROVENANCE_KEY in stored else None
        return cls(**{k: v for k, v in stored.items() if k in names}, provenance=provenance)


def read_provenance(path: str | Path) -> Provenance | None:
    """The provenance of a result: an .npz, a batch dataset directory, or a ``--out RESULT.npz`` whose dataset
    is still being written; None when the file holds none (written before provenance was recorded).

    Raises:
        ResultFileError: nothing readable at `path`.
    """
    path = Path(path)
    if path.is_dir():
        return _read_metadata(path)[0]
    if path.suffix == ".npz" and not path.exists() and dataset_dir(path).is_dir():
        return _read_metadata(dataset_dir(path))[0]
    try:
        with np.load(path, allow_pickle=False) as data:
            return Provenance.from_json(str(data[PROVENANCE_KEY])) if PROVENANCE_KEY in data.files else None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ResultFileError(f"{path} is not a readable result file ({type(error).__name__}); check the path.") from error


def dataset_dir(out: str | Path) -> Path:
    """Where the Parquet dataset of ``--out`` lives: ``RESULT.npz.parts/`` for an .npz, else `out` itself."""
    out = Path(out)
    return out.with_name(out.name + ".parts") if out.suffix == ".npz" else out


def _read_metadata(directory: Path) -> tuple[Provenance | None, dict]:
    try:
        data = json.loads((directory / _METADATA).read_text())
    except FileNotFoundError:
        return None, {}
    except (OSError, ValueError) as error:
        raise ResultFileError(f"{directory / _METADATA} is unreadable ({type(error).__name__}); pass --overwrite.") from error
    provenance = data.get("provenance")
    return (Provenance.from_json(json.dumps(provenance)) if provenance else None), data.get("model", {})


class ResultStore:
    """The batch dataset of one ``--out``: refuses to mix runs, appends shards, consolidates to .npz.

    Args:
        out: ``RESULT.npz`` (dataset in ``RESULT.npz.parts/``, consolidated at the end) or a directory.
        provenance: what this run would write; an existing result must agree on everything that decides the
            numbers (:attr:`Provenance.IDENTITY`), else :class:`ResultFileError` names the difference.
        model_arrays: per-model arrays of the result (``num_prefix_tokens``, ``grid_size``, ``patch_size``,
            ``class_output``) and optionally ``label_names``, kept in ``metadata.json``.
        overwrite: replace an existing result instead of resuming it.
    """

    def __init__(
        self, out: str | Path, provenance: Provenance, model_arrays: Mapping, *, overwrite: bool = False
    ) -> None:
        self.out = Path(out)
        self.directory = dataset_dir(self.out)
        self.provenance = provenance
        if overwrite:
            shutil.rmtree(self.directory, ignore_errors=True)
            if self.out.suffix == ".npz":
                self.out.unlink(missing_ok=True)
        self._refuse_another_run()
        for sub in (_ANALYSED, _FAILED):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
            for stale in (self.directory / sub).glob(".*.partial"):  # what a killed run was writing
                stale.unlink(missing_ok=True)
        existing, model = _read_metadata(self.directory)
        if existing is None:
            model = {k: np.asarray(v).tolist() for k, v in model_arrays.items()}
            with _atomic(self.directory / _METADATA, "w") as handle:
                json.dump({"provenance": json.loads(provenance.to_json()), "model": model}, handle, indent=1)
        else:
            self.provenance = existing  # the first run's date and device: the shards are its results
        self.model = model

    def _refuse_another_run(self) -> None:
        there = None
        if (self.directory / _METADATA).exists():
            there = read_provenance(self.directory)
        elif self.out.suffix == ".npz" and self.out.exists():
            there = read_provenance(self.out)
            if there is None:
                raise ResultFileError(
                    f"{self.out} records no model or settings (written by an older version), so it cannot be "
                    "resumed safely; write to another --out, or pass --overwrite to replace it."
                )
        if there is None:
            return
        differences = self.provenance.differences(there)
        if differences:
            raise ResultFileError(
                f"{self.out} holds another run's results (this run: {'; '.join(differences[:3])}); write to another "
                "--out, or pass --overwrite to replace it."
            )

    def _shards(self, sub: str) -> list[Path]:
        return sorted((self.directory / sub).glob("part-*.parquet"))

    def finished_paths(self) -> set[str]:
        """Paths of every image a finished shard holds, analysed or failed (reads the ``path`` columns only)."""
        import pyarrow.parquet as pq

        return {p for shard in self._shards(_ANALYSED) + self._shards(_FAILED) for p in pq.read_table(shard, columns=["path"]).column("path").to_pylist()}

    def append(self, first_index: int, paths: Sequence[str], arrays: Mapping[str, np.ndarray], failed: Mapping[str, str]) -> None:
        """Write one finished batch (see :func:`write_shard`)."""
        write_shard(self.directory, first_index, paths, arrays, failed, self.provenance)

    def consolidate(self) -> Path:
        """Write ``RESULT.npz`` from the dataset, one array of one shard at a time; returns its path."""
        import pyarrow.parquet as pq

        analysed, failed = self._shards(_ANALYSED), self._shards(_FAILED)
        arrays: dict[str, np.ndarray] = {}
        failed_rows = [pq.read_table(s) for s in failed]
        arrays["failed_path"] = np.asarray([p for t in failed_rows for p in t.column("path").to_pylist()], dtype=str)
        arrays["failed_reason"] = np.asarray([p for t in failed_rows for p in t.column("failed_reason").to_pylist()], dtype=str)
        for key, value in self.model.items():
            if key != "label_names":  # sizes, and class_output (a string)
                arrays[key] = np.asarray(value, dtype=str if isinstance(value, str) else np.int64)
        arrays = with_provenance(arrays, self.provenance)
        schema = pq.read_schema(analysed[0]) if analysed else None
        rows = sum(pq.read_metadata(s).num_rows for s in analysed)
        with _atomic(self.out) as handle, zipfile.ZipFile(handle, "w", allowZip64=True) as archive:
            for key, value in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)
            if schema is None:
                with archive.open("path.npy", "w") as entry:
                    np.lib.format.write_array(entry, np.zeros(0, dtype=str), allow_pickle=False)
                return self.out
            for key in schema.names:
                chunks = (_column(pq.read_table(s, columns=[key]), key) for s in analysed)
                if key == "path":  # strings: a fixed width, known only after one pass over the short path column
                    width = max((len(p) for s in analysed for p in pq.read_table(s, columns=["path"]).column("path").to_pylist()), default=1)
                    chunks = (c.astype(f"<U{width}") for c in chunks)
                _write_rows(archive, key, rows, chunks)
            labels = self.model.get("label_names")
            if labels is not None and "top5_index" in schema.names:
                names = np.asarray(labels, dtype=str)
                chunks = (names[_column(pq.read_table(s, columns=["top5_index"]), "top5_index")] for s in analysed)
                _write_rows(archive, "top5_label", rows, chunks)
        return self.out


def write_shard(
    directory: Path,
    first_index: int,
    paths: Sequence[str],
    arrays: Mapping[str, np.ndarray],
    failed: Mapping[str, str],
    provenance: Provenance,
) -> None:
    """Write one finished batch into the dataset at `directory` (any process may, e.g. a Ray actor).

    Args:
        first_index: position of the batch's first image in the run's full list of images: shards sort in
            image order (the consolidated file's order), and a random suffix keeps names unique across runs.
        paths: the analysed images; `arrays` hold one row per path (``[image, ...]``).
        failed: image path -> why it could not be analysed.
    """
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    name = f"part-{first_index:09d}-{uuid.uuid4().hex[:8]}.parquet"
    metadata = {b"provenance": provenance.to_json().encode()}
    if failed:
        table = pa.table({"path": pa.array(list(failed), pa.string()), "failed_reason": pa.array(list(failed.values()), pa.string())})
        with _atomic(directory / _FAILED / name) as handle:
            pq.write_table(table.replace_schema_metadata(metadata), handle)
    if paths:
        columns = {"path": pa.array(list(paths), pa.string())}
        for key, value in arrays.items():
            value = np.ascontiguousarray(value)
            if len(value) != len(paths):
                raise ResultFileError(f"{key} has {len(value)} rows for {len(paths)} images; this is a bug, please report it.")
            columns[key] = pa.array(value) if value.ndim == 1 else pa.FixedShapeTensorArray.from_numpy_ndarray(value)
        with _atomic(directory / _ANALYSED / name) as handle:
            pq.write_table(pa.table(columns).replace_schema_metadata(metadata), handle)


def _column(table, key: str) -> np.ndarray:
    column = table.column(key).combine_chunks()
    if hasattr(column, "to_numpy_ndarray"):  # a fixed_shape_tensor column
        return column.to_numpy_ndarray()
    return column.to_numpy(zero_copy_only=False).astype(str) if key == "path" else column.to_numpy()


def _write_rows(archive: zipfile.ZipFile, key: str, rows: int, chunks: Iterator[np.ndarray]) -> None:
    """One ``key.npy`` entry of `rows` rows from `chunks` arriving one at a time (the header needs the shape
    first: it comes from the first chunk and the row count)."""
    with archive.open(f"{key}.npy", "w", force_zip64=True) as entry:
        written = 0
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk)
            if written == 0:
                header = {"descr": np.lib.format.dtype_to_descr(chunk.dtype), "fortran_order": False, "shape": (rows, *chunk.shape[1:])}
                np.lib.format.write_array_header_2_0(entry, header)
            entry.write(chunk.tobytes())
            written += len(chunk)
        if written != rows:
            raise ResultFileError(f"{key} has {written} rows, not {rows}; pass --overwrite and run again.")
