"""Streaming benchmark: one epoch of JetSequence over a large file, read or trained on.

Writes (once, in a child process, into the temp directory) a top-tagging file of random
but physical-looking jets: 30-200 massless constituents around a jet axis, sorted by pT,
in 200 zero-padded slots (1.2M jets, the public training set's size, make 3.7 GB). Then
it streams one epoch and prints one line with the throughput, the peak resident memory
of the process and its peak above the baseline taken just before the epoch (after the
imports and the file's metadata). Peak memory should not grow with the file.

With `--train PRESET` the epoch trains that autoencoder preset (`model.fit` on the
JetSequence, batch 100, grapa's steps per execution) and the line adds the input
pipeline's share of the wall time: the time spent reading and preparing batches
(`JetSequence.__getitem__`) over the epoch's time. `--workers N` reads in N threads
beside the training (Keras's PyDataset workers), so reading overlaps computing. The
line also gives the memory that `keras.utils.set_random_seed` adds by importing
TensorFlow (a JAX process needs none of it).

    python benchmarks/bench_stream.py [--jets 1200000] [--constituents 200]
    python benchmarks/bench_stream.py --jets 1200000 --train jets16 [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

WRITE_CHUNK = 10_000
SLOTS = 200


def random_jets(n_jets: int, rng: np.random.Generator) -> np.ndarray:
    """(n_jets, 200, 4) massless constituents summing to roughly 600 GeV per jet."""
    multiplicity = rng.integers(30, SLOTS + 1, n_jets)
    pt = rng.exponential(1.0, (n_jets, SLOTS))
    pt[np.arange(SLOTS) >= multiplicity[:, None]] = 0.0
    pt = -np.sort(-pt, axis=1) * (600.0 / pt.sum(axis=1, keepdims=True))
    eta = rng.uniform(-2, 2, (n_jets, 1)) + rng.normal(0, 0.2, (n_jets, SLOTS))
    phi = rng.uniform(-np.pi, np.pi, (n_jets, 1)) + rng.normal(0, 0.2, (n_jets, SLOTS))
    jets = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1)
    return jets.astype(np.float32)


def write_file(path: str, n_jets: int) -> None:
    from grapa.data import write_jets

    rng = np.random.default_rng(0)
    partial = path + ".partial"
    for start in range(0, n_jets, WRITE_CHUNK):
        jets = random_jets(min(WRITE_CHUNK, n_jets - start), rng)
        labels = rng.integers(0, 2, len(jets))
        write_jets(partial, jets, labels, append=start > 0, complevel=0)
    os.replace(partial, path)


def memory_mb(field: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process from /proc, in MB (2**20 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_memory() -> None:
    """Set VmHWM to the current RSS (Linux >= 4.0); harmless where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=200_000)
    parser.add_argument("--constituents", type=int, default=SLOTS)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--buffer", type=int, default=10_000)
    parser.add_argument("--train", default=None, metavar="PRESET",
                        help="train this autoencoder preset for the epoch (jets4, jets9, jets16)")
    parser.add_argument("--workers", type=int, default=0, help="PyDataset reader threads")
    args = parser.parse_args()

    path = Path(tempfile.gettempdir()) / f"grapa_bench_stream_{args.jets}.h5"
    if not path.exists():
        writer = multiprocessing.get_context("spawn").Process(
            target=write_file, args=(str(path), args.jets)
        )
        writer.start()
        writer.join()

    os.environ.setdefault("KERAS_BACKEND", "jax")
    if args.train:
        n_jets, elapsed, extra = train_epoch(path, args)
    else:
        n_jets, elapsed, extra = read_epoch(path, args)
    print(
        f"bench_stream: jets={n_jets} constituents={args.constituents} batch={args.batch} "
        f"buffer={args.buffer} file_MB={path.stat().st_size / 2**20:.0f} "
        f"jets/s={n_jets / elapsed:.0f} peak_rss_MB={memory_mb('VmHWM'):.0f} {extra}"
    )


def read_epoch(path, args):
    """Read every batch once: `(jets, seconds, what else to print)`."""
    from grapa.data import JetSequence

    sequence = JetSequence(
        path, n_constituents=args.constituents, batch_size=args.batch, buffer_size=args.buffer
    )
    reset_peak_memory()
    baseline = memory_mb("VmRSS")
    start = time.perf_counter()
    n_jets = 0
    for index in range(len(sequence)):
        x, _ = sequence[index]
        n_jets += len(x)
    elapsed = time.perf_counter() - start
    return n_jets, elapsed, f"peak_rss_above_baseline_MB={memory_mb('VmHWM') - baseline:.0f}"


def train_epoch(path, args):
    """Train `args.train` for one epoch streamed from `path`: `(jets, seconds, extra)`."""
    import keras

    from grapa.data import JetSequence
    from grapa.models import PRESETS, build_graph_autoencoder
    from grapa.models.autoencoder import STEPS_PER_EXECUTION

    class TimedSequence(JetSequence):
        reading = 0.0

        def __getitem__(self, index):
            start = time.perf_counter()
            batch = super().__getitem__(index)
            TimedSequence.reading += time.perf_counter() - start
            return batch

    n = PRESETS[args.train]["n_nodes"]
    options = dict(workers=args.workers, use_multiprocessing=False) if args.workers else {}
    sequence = TimedSequence(path, n_constituents=n, batch_size=args.batch,
                             buffer_size=args.buffer, targets=None, **options)
    before_seed = memory_mb("VmRSS")
    keras.utils.set_random_seed(0)  # imports TensorFlow whenever it is installed
    seeding = memory_mb("VmRSS") - before_seed
    model = build_graph_autoencoder(args.train)
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  steps_per_execution=STEPS_PER_EXECUTION, jit_compile=True)
    warm_up = keras.ops.convert_to_numpy(sequence[0][0])
    model.fit(warm_up, batch_size=args.batch, epochs=1, verbose=0)  # compile first
    TimedSequence.reading = 0.0
    reset_peak_memory()
    baseline = memory_mb("VmRSS")
    start = time.perf_counter()
    history = model.fit(sequence, epochs=1, shuffle=False, verbose=0)
    elapsed = time.perf_counter() - start
    extra = (f"peak_rss_above_baseline_MB={memory_mb('VmHWM') - baseline:.0f} "
             f"of_which_set_random_seed_MB={seeding:.0f} "
             f"train={args.train} workers={args.workers} input_share="
             f"{TimedSequence.reading / elapsed:.0%} loss={history.history['loss'][-1]:.4f}")
    return len(sequence._rows), elapsed, extra


if __name__ == "__main__":
    main()
