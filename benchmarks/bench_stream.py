"""Streaming benchmark: one epoch of JetSequence over a file of 200k jets.

Writes (once, in a child process, into the temp directory) a top-tagging file of random
but physical-looking jets: 30-200 massless constituents around a jet axis, sorted by pT,
in 200 zero-padded slots. Then it streams one epoch and prints one line with the
throughput and the peak resident memory above the baseline taken just before the epoch
(after the imports and the file's metadata). Peak memory should not grow with the file.

    python benchmarks/bench_stream.py [--jets 200000] [--constituents 200]
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
    args = parser.parse_args()

    path = Path(tempfile.gettempdir()) / f"grapa_bench_stream_{args.jets}.h5"
    if not path.exists():
        writer = multiprocessing.get_context("spawn").Process(
            target=write_file, args=(str(path), args.jets)
        )
        writer.start()
        writer.join()

    os.environ.setdefault("KERAS_BACKEND", "jax")
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
    peak_above = memory_mb("VmHWM") - baseline
    print(
        f"bench_stream: jets={n_jets} constituents={args.constituents} batch={args.batch} "
        f"buffer={args.buffer} file_MB={path.stat().st_size / 2**20:.0f} "
        f"jets/s={n_jets / elapsed:.0f} peak_rss_above_baseline_MB={peak_above:.0f}"
    )


if __name__ == "__main__":
    main()
