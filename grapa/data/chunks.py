"""Work saved chunk by chunk, so that a killed run resumes where it stopped.

`grapa simulate` saves every finished chunk of jets here at once; run again with the same
arguments, it simulates only the chunks that are missing. Each file is written under a
temporary name and renamed, so a kill at any moment leaves whole chunks or none.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["ChunkStore"]


class ChunkStore:
    """The finished chunks of one run, `<out>.chunks/chunk_00000.npy`, ..., beside `out`.

    `run.json` records what the run makes (`plan`); a folder left by a run with other
    arguments is discarded, never mixed in.

    Args:
        path: the run's output file; the folder is `path` + `.chunks`.
        plan: one JSON-serializable description per chunk (its seed, size, settings).
        shapes: the array shape each chunk must have to count as finished.
        extra: more of the run's identity (e.g. the label written with the jets).
    """

    def __init__(self, path, plan, shapes, extra=None):
        path = Path(path)
        self.folder = path.with_name(path.name + ".chunks")
        self.shapes = [tuple(shape) for shape in shapes]
        run = json.loads(json.dumps({"plan": list(plan), **(extra or {})}))
        manifest = self.folder / "run.json"
        if self.folder.exists():
            try:
                same = json.loads(manifest.read_text()) == run
            except (OSError, ValueError):
                same = False
            if not same:
                shutil.rmtree(self.folder)
        if not self.folder.exists():
            self.folder.mkdir()
            _write_atomically(manifest, lambda file: file.write(json.dumps(run).encode()))

    def _file(self, k: int) -> Path:
        return self.folder / f"chunk_{k:05d}.npy"

    def finished(self) -> set[int]:
        """Indices of the chunks on disk whole (of the right shape)."""
        done = set()
        for k, shape in enumerate(self.shapes):
            try:
                array = np.load(self._file(k), mmap_mode="r")
            except (OSError, ValueError):
                continue
            if array.shape == shape:
                done.add(k)
        return done

    def save(self, k: int, array: np.ndarray) -> None:
        """Save chunk `k` (atomically)."""
        _write_atomically(self._file(k), lambda file: np.save(file, array))

    def load(self, k: int) -> np.ndarray:
        return np.load(self._file(k))

    def remove(self) -> None:
        """Delete the folder: the run's output is complete."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_atomically(path: Path, write) -> None:
    """Write a file through a temporary name, so that a kill never leaves half of it."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
