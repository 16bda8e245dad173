"""Stream jets from a top-tagging file into ``model.fit``, a block at a time."""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import keras
import numpy as np

from grapa.data import toptagging
from grapa.data.toptagging import DEFAULT_KEY, LABEL_COLUMN, JetDataError


class JetSequence(keras.utils.PyDataset):
    """Stream jets from a top-tagging file into ``model.fit``, a buffer at a time.

    The rows are cut into blocks of ``buffer_size`` consecutive jets. Each epoch visits
    the blocks in a new random order (a last, shorter block always comes last) and
    shuffles the jets inside each block, so every jet appears exactly once per epoch.
    Only one or two blocks are in memory at any time: peak memory depends on
    ``buffer_size`` and the file's row width, not on the number of jets.

    Keras shuffles the order of a PyDataset's batches when ``fit`` gets
    ``shuffle=True`` (its default), which would re-read a block for nearly every batch:
    pass ``shuffle=False`` to ``fit``; this class shuffles by itself.

    Args:
        path: HDF5 file in the top-tagging schema.
        n_constituents: constituents per jet (zero padded if the file holds fewer).
        batch_size: jets per batch.
        key: the pandas key.
        start: first row (Python slice semantics; None: 0).
        stop: row to stop before (None: the end).
        shuffle: shuffle the blocks and the jets within them; False streams in file
            order.
        buffer_size: jets per block, rounded down to a multiple of ``batch_size``.
        seed: seed of the shuffling; epoch ``e`` uses ``(seed, e)``.
        targets: what comes with each batch of jets ``x``: ``"jets"`` gives ``(x, x)``
            (an autoencoder's target), ``"labels"`` gives ``(x, is_signal_new)``, None
            gives ``(x,)``.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of
            ``keras.utils.PyDataset``.

    Example:
        >>> train = JetSequence("qcd.h5", n_constituents=16, batch_size=100)  # doctest: +SKIP
        >>> model.fit(train, epochs=10, shuffle=False)  # doctest: +SKIP
    """

    _CACHED_BLOCKS = 2  # two, so threads working across a block boundary share them

    def __init__(
        self,
        path: str | Path,
        n_constituents: int,
        batch_size: int = 100,
        key: str = DEFAULT_KEY,
        start: int | None = None,
        stop: int | None = None,
        shuffle: bool = True,
        buffer_size: int = 10_000,
        seed: int = 0,
        targets: str | None = "jets",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if targets not in ("jets", "labels", None):
            raise ValueError(f"targets must be 'jets', 'labels' or None, got {targets!r}")
        # Helpers through the module, so patching them there reaches here too.
        self._layout = toptagging._read_layout(path, key)
        if targets == "labels" and not self._layout.has_labels:
            raise JetDataError(
                f"targets='labels' but {self._layout.where()} has no column "
                f"'{LABEL_COLUMN}': pass targets='jets' or None, or add the labels"
            )
        self.n_constituents = toptagging._check_n_constituents(self._layout, n_constituents)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.targets = targets
        self.epoch = 0
        self._rows = range(self._layout.n_rows)[start:stop]
        self._block_size = max(buffer_size // batch_size, 1) * batch_size
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._loads_this_epoch = 0
        self._warned_random_access = False

    def __len__(self) -> int:
        full, rest = divmod(len(self._rows), self._block_size)
        return full * (self._block_size // self.batch_size) + math.ceil(rest / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        batches_per_block = self._block_size // self.batch_size
        position, batch_in_block = divmod(index, batches_per_block)
        jets, labels = self._block(self._block_order()[position])
        batch = slice(batch_in_block * self.batch_size, (batch_in_block + 1) * self.batch_size)
        x = jets[batch]
        if self.targets == "jets":
            return x, x
        if self.targets == "labels":
            return x, labels[batch]
        return (x,)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._loads_this_epoch = 0

    def _n_blocks(self) -> int:
        return math.ceil(len(self._rows) / self._block_size)

    def _block_order(self) -> np.ndarray:
        """Block numbers in this epoch's order; a short last block stays last."""
        n_full = len(self._rows) // self._block_size
        order = np.arange(self._n_blocks())
        if self.shuffle:
            order[:n_full] = np.random.default_rng([self.seed, self.epoch]).permutation(n_full)
        return order

    def _block(self, block: int) -> tuple[np.ndarray, np.ndarray | None]:
        with self._lock:
            cache_key = (self.epoch, block)
            if cache_key not in self._cache:
                self._cache[cache_key] = self._load_block(block)
                if len(self._cache) > self._CACHED_BLOCKS:
                    self._cache.popitem(last=False)
            return self._cache[cache_key]

    def _load_block(self, block: int) -> tuple[np.ndarray, np.ndarray | None]:
        self._loads_this_epoch += 1
        if self._loads_this_epoch > self._n_blocks() + 2 and not self._warned_random_access:
            self._warned_random_access = True
            warnings.warn(
                "JetSequence is read in random batch order, so most batches re-read a "
                "block of the file: pass shuffle=False to model.fit (JetSequence "
                "shuffles within its buffer by itself)",
                RuntimeWarning,
                stacklevel=4,
            )
        rows = self._rows[block * self._block_size : (block + 1) * self._block_size]
        jets, labels = toptagging._read_rows(
            self._layout, rows.start, rows.stop, self.n_constituents
        )
        if self.shuffle:
            permutation = np.random.default_rng([self.seed, self.epoch, block]).permutation(
                len(jets)
            )
            jets = jets[permutation]
            labels = labels[permutation] if labels is not None else None
        return jets, labels

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_cache"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
