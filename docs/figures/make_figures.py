"""Draw the example figures of the docs from synthetic data.

Every figure in `docs/figures/*.md` comes from here, so the pages show exactly what
`grapa.plotting` draws. No model and no real jets are needed: scores, losses and jets
are sampled from simple distributions chosen to look like a typical run.

Run from the repository root:

    python docs/figures/make_figures.py

It writes `docs/figures/img/*.png`.
"""

from pathlib import Path

import numpy as np

from grapa import evaluation, plotting

OUTPUT = Path(__file__).parent / "img"
DPI = 80
SEED = 2021
N_JETS = 5000
N_NODES = 16

rng = np.random.default_rng(SEED)


def save(figure, name):
    """Write one PNG at the docs' resolution."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT / f"{name}.png", dpi=DPI)
    print(f"wrote {OUTPUT / name}.png")


def scores():
    """Background losses and somewhat larger signal losses (AUC ~ 0.8)."""
    return rng.gamma(2.0, 1.0, N_JETS), rng.gamma(3.5, 1.0, N_JETS)


class GaussianDensity:
    """Toy one-class model: score = Mahalanobis distance to the training mean."""

    def fit(self, x):
        self.mean = x.mean(axis=0)
        self.precision = np.linalg.inv(np.cov(x, rowvar=False))

    def score(self, x):
        offset = x - self.mean
        return np.sqrt(np.einsum("ij,jk,ik->i", offset, self.precision, offset))


def double_roc_scores(data_a, data_b):
    """Test-half scores of both directions of an invertibility test."""
    half = len(data_a) // 2
    pairs = []
    for train, other in ((data_a, data_b), (data_b, data_a)):
        model = GaussianDensity()
        model.fit(train[:half])
        pairs.append((model.score(train[half:]), model.score(other[half:])))
    return pairs


def feature_losses():
    """Per (node, feature) squared errors: the angles of signal jets reconstruct worse."""
    scale = np.ones((4, 4))
    # An exponential loss scaled by r has AUC r / (1 + r).
    scale[:, 1:3] = [[1.5, 1.4], [2.5, 2.2], [4.0, 3.5], [6.0, 5.0]]  # d_eta, d_phi: blue
    scale[:, 3] = [0.9, 0.7, 0.5, 0.4]  # lpt: red
    background = rng.exponential(1.0, size=(N_JETS, 4, 4))
    signal = rng.exponential(scale, size=(N_JETS, 4, 4))
    return background, signal


def reconstruction():
    """One jet's (flag, d_eta, d_phi, lpt) and a plausible, too narrow reconstruction."""
    n_real = 12
    fractions = np.sort(rng.exponential(1.0, n_real) ** 1.5)[::-1]
    target = np.zeros((N_NODES, 4))
    target[:n_real, 0] = 1
    target[:n_real, 1:3] = rng.normal(0, 0.15, size=(n_real, 2))
    target[:n_real, 3] = -np.log(fractions / fractions.sum())
    output = target.copy()
    output[:n_real, 1:3] = 0.6 * target[:n_real, 1:3] + rng.normal(0, 0.03, (n_real, 2))
    output[:n_real, 3] += rng.normal(0, 0.3, n_real)
    return target, output


def history(epochs=300):
    """A loss that falls and flattens; the validation loss turns up late (overfitting)."""
    epoch = np.arange(epochs)
    loss = (0.02 + 0.5 * np.exp(-epoch / 30)) * rng.lognormal(0, 0.05, epochs)
    val_loss = (0.024 + 0.5 * np.exp(-epoch / 30) + 2e-7 * epoch**2) * rng.lognormal(0, 0.08, epochs)
    return {"loss": loss, "val_loss": val_loss}


def main():
    background, signal = scores()
    save(plotting.plot_roc(background, signal, label="toy model"), "roc")
    save(plotting.plot_loss_distributions(background, signal), "loss_distributions")

    narrow, wide = rng.normal(0, 1, (N_JETS, 2)), rng.normal(0, 1.6, (N_JETS, 2))
    shifted = rng.normal([2, 0], 1, (N_JETS, 2))
    save(plotting.plot_double_roc(*double_roc_scores(narrow, wide), names=("narrow", "wide")),
         "double_roc_not_invertible")
    save(plotting.plot_double_roc(*double_roc_scores(narrow, shifted),
                                  names=("narrow", "shifted")),
         "double_roc_invertible")

    save(plotting.plot_feature_auc_map(evaluation.feature_auc_map(*feature_losses())),
         "feature_auc_map")
    save(plotting.plot_reconstruction(*reconstruction()), "reconstruction")
    save(plotting.plot_history(history()), "history")
    save(plotting.plot_metric(np.array([0.05, 1.4, 1.2, -0.35])), "metric")


if __name__ == "__main__":
    main()
