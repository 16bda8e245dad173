"""Models per minute in this process and on local Ray: a small scan and a cross table.

The scan: 8 jets4 autoencoders (a 2 x 2 x 2 grid over k, learning_rate and batch_size),
`--scan-epochs` epochs each on 2,000 background jets. The cross table: 4 x 4 datasets,
jets16 autoencoders with 3 seed repeats per row (`ModelFactory(kind="autoencoder",
preset="jets16", epochs=--epochs, repeats=3)`), 12 models. Each runs in this process,
then on a local Ray instance (one task per model, one CPU and `--ray-threads` threads
each), and the two tables are compared (same seeds). Prints one line.

    python benchmarks/bench_scan.py                  # the bundled sample, split in 4
    python benchmarks/bench_scan.py qcd.h5 top.h5 qcd_b.h5 top_b.h5 --jets 4000

With files, the first is the scan's background and the second its signal; each file is
one dataset of the cross table (its first `--jets` jets, half train).
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from grapa.crosscheck import ModelFactory  # noqa: E402
from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.evaluation import cross_table  # noqa: E402
from grapa.parallel import start_ray  # noqa: E402
from grapa.scan import scan  # noqa: E402

GRID = {"k": [2, 4], "learning_rate": [0.001, 0.003], "batch_size": [50, 100]}
N_TRAIN, N_TEST = 2000, 1000


def datasets(paths, n_jets):
    """Four datasets of 16 constituents: the files', or the bundled sample's QCD and top in halves."""
    if paths:
        return {os.path.basename(path).removesuffix(".h5"): read_jets(path, 16, stop=n_jets)[0]
                for path in paths}
    jets, labels = read_jets(sample_path(), 16)
    qcd, top = jets[labels == 0], jets[labels == 1]
    half = len(top) // 2
    return {"qcd_a": qcd[:half], "qcd_b": qcd[half:2 * half], "top_a": top[:half],
            "top_b": top[half:2 * half]}


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="four jet files (default: the bundled sample)")
    parser.add_argument("--jets", type=int, default=4000, help="jets read per file")
    parser.add_argument("--epochs", type=int, default=2, help="cross table: ModelFactory epochs")
    parser.add_argument("--scan-epochs", type=int, default=3, help="scan: epochs per model")
    parser.add_argument("--ray-threads", type=int, default=1,
                        help="threads per Ray worker; 0 leaves XLA's default (every core)")
    args = parser.parse_args()
    if args.files and len(args.files) != 4:
        parser.error(f"give four files, got {len(args.files)}")
    config = {"preset": "jets4", "background": args.files[0] if args.files else str(sample_path()),
              "n_test": N_TEST, "fixed": {"n_train": N_TRAIN, "epochs": args.scan_epochs},
              "grid": GRID}
    if args.files:
        config["signal"] = args.files[1]
    sets = datasets(args.files, args.jets)
    factory = ModelFactory(kind="autoencoder", preset="jets16", epochs=args.epochs, repeats=3)
    n_scan, n_cross = int(np.prod([len(v) for v in GRID.values()])), len(sets) * factory.repeats

    with tempfile.TemporaryDirectory() as out:
        scan_here, scan_here_s = timed(scan, config, f"{out}/here")
        cross_here, cross_here_s = timed(cross_table, factory, sets)
        _, start_s = timed(start_ray, True, threads=args.ray_threads or None)
        scan_ray, scan_ray_s = timed(scan, config, f"{out}/ray", ray=True)
        cross_ray, cross_ray_s = timed(cross_table, factory, sets, ray=True)

    def rate(n, seconds):
        return f"{n / seconds * 60:.1f}/min ({seconds:.0f} s)"

    metrics = [m for m in ("val_loss", "auc") if m in scan_here]
    scan_diff = np.nanmax(np.abs(scan_here[metrics].to_numpy() - scan_ray[metrics].to_numpy()))
    cross_diff = np.max(np.abs(cross_here.to_numpy() - cross_ray.to_numpy()))
    print(f"bench_scan: {os.cpu_count()} cores, {os.environ['KERAS_BACKEND']}, "
          f"ray threads/worker {args.ray_threads or 'default'}, ray start {start_s:.0f} s | "
          f"scan {n_scan} jets4 x {args.scan_epochs} ep: here {rate(n_scan, scan_here_s)}, "
          f"ray {rate(n_scan, scan_ray_s)}, max |diff| {scan_diff:.2g} | "
          f"cross {len(sets)}x{len(sets)} jets16 x3 repeats ({n_cross} models, epochs "
          f"{args.epochs}): here {rate(n_cross, cross_here_s)}, ray {rate(n_cross, cross_ray_s)}, "
          f"max |AUC diff| {cross_diff:.2g}")


if __name__ == "__main__":
    main()
