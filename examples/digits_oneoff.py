"""
Title: Oneoff networks find digits that are not a 7
Description: the thesis's one-class check outside physics (Klüttermann 2021, E.3.1), on
scikit-learn's bundled 8x8 handwritten digits: one oneoff network, an ensemble of 25,
and two classic one-class baselines.

A oneoff network (T 7.1) is a bias-free dense network trained to output 1 on background
only; the distance of its mean output from the background's mean output is the anomaly
score. Here the background is the digit 7 (as T uses MNIST's 7s): half of the 7s train,
the other half and all other digits test (signal = the anomaly = any digit but 7).
Each network also learns 0 on random Gaussian "images" with the 7s' per-pixel mean and
std (T 7.1.1), and the ensemble sums its members' scores (c = 1, T E.3.1). The same runs
without random negatives show what they add. IsolationForest and OneClassSVM from
scikit-learn, fit on the same 7s, are the baselines. AUC 1 = every other digit scores
above every held-out 7.

The digits ship with scikit-learn: no download.

    python examples/digits_oneoff.py            # 2 x 25 networks, about 2 minutes on 2 cores
    python examples/digits_oneoff.py --quick    # 2 x 3 networks, a few epochs, for CI
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

from grapa.evaluation import auc  # noqa: E402
from grapa.models import OneOffEnsemble  # noqa: E402

BACKGROUND_DIGIT = 7
TRAIN_FRACTION = 0.5  # of the background digits; the rest are held out for testing
MEMBERS = 25  # T E.3.1 used 25 retrainings
HIDDEN = (32, 16)
OUTPUTS = 4  # several outputs train better (T fn. 80)
LEARNING_RATE = 1e-3
EPOCHS = 500  # at most; early stopping on the validation loss ends most runs before 200
PATIENCE = 20
BATCH_SIZE = 16
VALIDATION_SPLIT = 0.2
OCSVM_NU = 0.1
QUICK = dict(members=3, epochs=30)


def digit_split(background_digit, train_fraction, seed):
    """Pixels scaled to [0, 1]: training background, held-out background, other digits."""
    digits = load_digits()
    images = (digits.data / 16.0).astype("float32")
    background = np.flatnonzero(digits.target == background_digit)
    background = np.random.default_rng(seed).permutation(background)
    n_train = int(round(train_fraction * len(background)))
    return (images[background[:n_train]], images[background[n_train:]],
            images[digits.target != background_digit])


def oneoff_aucs(train, background, signal, random_negatives, schedule, seed):
    """Train an ensemble; return the members' AUCs, the ensemble's AUC and the time."""
    start = time.time()
    ensemble = OneOffEnsemble(n=schedule["members"], hidden=HIDDEN, outputs=OUTPUTS,
                              learning_rate=LEARNING_RATE, seed=seed)
    ensemble.fit(train, epochs=schedule["epochs"], batch_size=BATCH_SIZE,
                 validation_split=VALIDATION_SPLIT, patience=PATIENCE,
                 random_negatives=random_negatives)
    background_members = ensemble.member_scores(background)
    signal_members = ensemble.member_scores(signal)
    members = [auc(background_members[:, i], signal_members[:, i]) for i in range(ensemble.n)]
    combined = auc(ensemble.score(background), ensemble.score(signal))
    return np.array(members), combined, time.time() - start


def baseline_aucs(train, background, signal, seed):
    """IsolationForest and OneClassSVM fit on the same background; score = -score_samples."""
    models = {
        "IsolationForest": IsolationForest(random_state=seed),
        f"OneClassSVM (nu={OCSVM_NU}, rbf)": OneClassSVM(nu=OCSVM_NU, gamma="scale"),
    }
    return {name: auc(-model.fit(train).score_samples(background),
                      -model.score_samples(signal))
            for name, model in models.items()}


def main():
    parser = argparse.ArgumentParser(description="Oneoff networks find digits that are not a 7")
    parser.add_argument("--quick", action="store_true", help="3 members, 30 epochs (CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    schedule = dict(members=MEMBERS, epochs=EPOCHS)
    if args.quick:
        schedule.update(QUICK)
    keras.utils.set_random_seed(args.seed)
    train, background, signal = digit_split(BACKGROUND_DIGIT, TRAIN_FRACTION, args.seed)
    print(f"background digit {BACKGROUND_DIGIT}: {len(train)} for training, "
          f"{len(background)} held out; {len(signal)} other digits as anomalies; "
          f"{train.shape[1]} pixels")

    rows = []
    for random_negatives in (True, False):
        members, combined, seconds = oneoff_aucs(train, background, signal, random_negatives,
                                                 schedule, args.seed)
        label = "with random negatives" if random_negatives else "no random negatives"
        rows.append((f"one oneoff, {label} (mean +- std of {len(members)})",
                     f"{members.mean():.3f} +- {members.std():.3f}"))
        rows.append((f"ensemble of {len(members)} oneoffs, {label}", f"{combined:.3f}"))
        print(f"trained {len(members)} oneoffs ({label}) in {seconds:.0f} s")
    rows += [(name, f"{value:.3f}")
             for name, value in baseline_aucs(train, background, signal, args.seed).items()]

    width = max(len(name) for name, _ in rows)
    print(f"\n{'model':<{width}}  AUC (other digits vs held-out {BACKGROUND_DIGIT}s)")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
