"""Jets per second: JetGAN's generator against Pythia 8 + FastJet (`grapa simulate`).

Both make jets of 30 particles in the same run: the generator (`JetGAN.generate_jets`,
4-momenta ready for `write_jets`; its speed does not depend on training, so an untrained
model of the default size is timed unless --model names a trained one) and
`grapa.data.simulate` of gluon jets at 950-1050 GeV with --workers processes. Prints one
line: both rates and their ratio.

    python benchmarks/bench_generate.py
    python benchmarks/bench_generate.py --architecture epic
    python benchmarks/bench_generate.py --model gluon_gan/generator.keras --workers 2
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grapa.data import simulate  # noqa: E402
from grapa.models import JetGAN  # noqa: E402
from grapa.models.generator import ARCHITECTURES  # noqa: E402


def generator_rate(model, n_jets, batch_size):
    model.generate_jets(batch_size, batch_size=batch_size, seed=0)  # compile
    start = time.perf_counter()
    model.generate_jets(n_jets, batch_size=batch_size, seed=1)
    return n_jets / (time.perf_counter() - start)


def simulation_rate(n_jets, workers):
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        simulate("gluon", n_jets, Path(folder) / "jets.h5", seed=1, workers=workers,
                 n_constituents=30, pt_min=950.0, pt_max=1050.0, progress=False)
        return n_jets / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained JetGAN (.keras)")
    parser.add_argument("--architecture", default="epic", choices=ARCHITECTURES,
                        help="of the untrained model timed without --model")
    parser.add_argument("--jets", type=int, default=50_000, help="generated jets timed")
    parser.add_argument("--simulated", type=int, default=1000, help="simulated jets timed")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.model:
        model = keras.models.load_model(args.model)
    else:
        model = JetGAN(architecture=args.architecture)
        rng = np.random.default_rng(0)  # stand-in training statistics: speed only
        model.feature_mean, model.feature_std = [0.0, 0.0, -4.0], [0.15, 0.15, 1.3]
        model.pt_quantiles = list(np.linspace(950, 1050, 201))
        model.eta_quantiles = list(np.sort(rng.uniform(-2, 2, 201)))
    generated = generator_rate(model, args.jets, args.batch_size)
    simulated = simulation_rate(args.simulated, args.workers)
    print(f"generate: JetGAN ({model.architecture}) {generated:.0f} jets/s (batch "
          f"{args.batch_size}), Pythia + "
          f"FastJet {simulated:.0f} jets/s ({args.workers} worker(s)), ratio "
          f"{generated / simulated:.1f}x, backend {keras.backend.backend()}")


if __name__ == "__main__":
    main()
