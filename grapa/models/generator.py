"""Generating jets: graph GANs, EPiC-GAN's point-cloud networks and the thesis's
decompression.

Two architectures share one training loop (`JetGAN`):

- `"epic"` (the default): the equivariant point-cloud generator and discriminator of
  EPiC-GAN (Buhmann, Kasieczka and Thaler, "EPiC-GAN: Equivariant point cloud generation
  for particle jets", SciPost Phys. 15, 130 (2023), arXiv:2301.08128): per-particle
  noise and one global vector, `EPiC` layers, the multiplicity drawn from the training
  jets.
- `"decompress"`: the thesis's graph GAN. The generator starts from a noise vector on one
  node and grows the jet with `Decompress` stages (Klüttermann 2021, sec. 4.3 and app.
  F.4: "decompressing 1 dimensional data twice") and `GraphUpdate`s on the
  Kronecker-grown graph, to `n` particles of (eta_rel, phi_rel, pT_rel) plus a mask;
  per-particle noise joins after the last decompression, as the particle-level noise of
  MPGAN (Kansal et al., "Particle Cloud Generation with Message Passing Generative
  Adversarial Networks", NeurIPS 2021, arXiv:2106.11535). The discriminator is
  ParticleNet-style `EdgeConv`s and a masked mean and max.

Both discriminators are permutation invariant, ignore padding and have no batch
normalisation (which a critic must not have). `JetGAN` trains with the Wasserstein
objective with gradient penalty (Gulrajani et al., "Improved Training of Wasserstein
GANs", NeurIPS 2017) or the least-squares objective (Mao et al., "Least Squares
Generative Adversarial Networks", ICCV 2017; MPGAN's and EPiC-GAN's choice), and keeps
the generator of the epoch whose jets are closest to held-out real jets in the jet mass
and particle features (MPGAN picked its epoch the same way). Training needs gradients of
the discriminator with respect to its input (the penalty) and two optimizers, which
`keras.Model.fit` does not give; the step is written for the JAX backend (grapa's
default) and TensorFlow.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
from keras import ops
from scipy.stats import wasserstein_distance

from grapa.data.relative import relative_masses, to_relative
from grapa.layers import (
    CutFeatures,
    Decompress,
    EdgeConv,
    EPiC,
    FullyConnectedGraph,
    GlobalPooling,
    GraphUpdate,
    MaskLogit,
)

__all__ = [
    "ARCHITECTURES",
    "OBJECTIVES",
    "JetGAN",
    "build_epic_discriminator",
    "build_epic_generator",
    "build_jet_discriminator",
    "build_jet_generator",
]

ARCHITECTURES = ("decompress", "epic")
OBJECTIVES = ("lsgan", "wgan-gp")
# EPiC's summed particles: a fixed factor (not 1 / slots, so that padding slots change
# nothing), of order one for JetNet's 30 particles
EPIC_SUM_SCALE = 1.0 / 30
# what differs between the architectures (None in JetGAN's arguments)
ARCHITECTURE_DEFAULTS = {
    "decompress": {"latent_dim": 64, "particle_noise": 8, "units": 64,
                   "objective": "wgan-gp"},
    "epic": {"latent_dim": 10, "particle_noise": 3, "units": 128,  # EPiC-GAN's sizes
             "objective": "lsgan"},
}
GRADIENT_PENALTY = 10.0  # Gulrajani et al.'s lambda
N_FEATURES = 3  # eta_rel, phi_rel, pt_rel
KINEMATICS_QUANTILES = 201  # of the training jets' pT and eta, kept for `generate_jets`


def _factors(n_particles: int, factors) -> tuple[int, ...]:
    factors = tuple(int(f) for f in factors)
    if not factors or min(factors) < 1 or math.prod(factors) != n_particles:
        raise ValueError(
            f"the decompression factors {factors} must be positive and multiply to "
            f"n_particles = {n_particles} (e.g. (5, 6) for 30 particles)"
        )
    return factors


def build_jet_generator(n_particles=30, latent_dim=64, particle_noise=8, factors=(5, 6),
                        units=64, updates=2, name="generator"):
    """The generator: noise on one node, grown by `Decompress` stages to `n_particles`.

    noise `(B, latent_dim)` -> Dense -> one node -> for each factor c: Decompress(c) and
    `updates` x GraphUpdate (mean over the grown graph, leaky ReLU, with bias) -> per
    particle noise concatenated -> `updates` x GraphUpdate -> Dense(4): three features in
    the network's standardized coordinates and a mask logit.

    Args:
        n_particles: particles per jet; the product of `factors`.
        latent_dim: size of the jet's noise vector.
        particle_noise: noise features per particle added after the last decompression
            (0: none, the jet is a function of the jet noise alone).
        factors: decompression factors, first to last.
        units: features per node.
        updates: GraphUpdates after each decompression.
        name: the model's name.

    Returns:
        A `keras.Model` taking `[noise (B, latent_dim), particle_noise (B, n, P)]` (only
        the first when `particle_noise=0`) and returning `(B, n_particles, 4)`.
    """
    factors = _factors(int(n_particles), factors)
    noise = keras.Input((latent_dim,), name="noise")
    inputs = [noise]
    x = keras.layers.Dense(units, activation="leaky_relu")(noise)
    x = keras.layers.Reshape((1, units))(x)
    adjacency = FullyConnectedGraph()(x)
    for stage, factor in enumerate(factors):
        x, adjacency = Decompress(factor, units, name=f"decompress_{stage}")([x, adjacency])
        if stage == len(factors) - 1 and particle_noise:
            per_particle = keras.Input((n_particles, particle_noise), name="particle_noise")
            inputs.append(per_particle)
            x = keras.layers.Concatenate()([x, per_particle])
        for _ in range(updates):
            x = GraphUpdate(units, activation="leaky_relu", aggregation="mean",
                            use_bias=True)([x, adjacency])
    outputs = keras.layers.Dense(N_FEATURES + 1, name="particles")(x)
    return keras.Model(inputs, outputs, name=name)


def build_jet_discriminator(n_particles=30, k=10, blocks=((64, 64), (64, 64)), dense=(128,),
                            name="discriminator"):
    """The discriminator (critic): EdgeConv blocks and a masked mean, one score per jet.

    Input `(B, n, 4)`: the three standardized features and the mask, padding all zero.
    The first EdgeConv's graph is on (eta, phi), later ones on the previous block's
    output (DGCNN's dynamic graph); no batch normalisation (the gradient penalty is per
    jet, and a critic's score must not depend on the rest of the batch).

    Args:
        n_particles: particles per jet.
        k: neighbours per EdgeConv.
        blocks: MLP widths of each EdgeConv block.
        dense: widths of the dense layers after pooling.
        name: the model's name.

    Returns:
        A `keras.Model` mapping `(B, n, 4)` to `(B, 1)` scores.
    """
    particles = keras.Input((n_particles, N_FEATURES + 1), name="particles")
    coordinates = CutFeatures(2)(particles)
    x = particles
    for block, widths in enumerate(blocks):
        x = EdgeConv(widths, k=k, activation="leaky_relu", use_bias=True,
                     name=f"edge_conv_{block}")([coordinates, x])
        coordinates = x
    pooled = keras.layers.Concatenate()(
        [GlobalPooling("mean")([x, particles]), GlobalPooling("max")([x, particles])])
    h = pooled
    for width in dense:
        h = keras.layers.Dense(width, activation="leaky_relu")(h)
    return keras.Model(particles, keras.layers.Dense(1)(h), name=name)


def build_epic_generator(n_particles=30, latent_dim=10, particle_noise=3, units=128,
                         layers=6, name="generator"):
    """EPiC-GAN's generator: per-particle noise and one global vector, `EPiC` layers.

    Buhmann, Kasieczka and Thaler, SciPost Phys. 15, 130 (2023), sec. 2.2: the particles
    start from their own noise (Dense + leaky ReLU), the global vector from the jet's
    noise (two Dense + leaky ReLU); `layers` EPiC layers follow, each with a skip
    connection to those starting values, and a Dense maps every particle to the three
    standardized features. No particle sees another except through the global vector,
    so the cost is linear in the particles. The multiplicity is not learned: as in the
    paper it is drawn from the training jets' distribution (`JetGAN` does), the slots
    beyond it get all-zero noise, are never pooled, and get the mask logit of padding
    (`MaskLogit`). With a learned mask instead, both objectives ended within two epochs
    on simulated gluon jets (99.7% of them with all 30 particles) at the same W1-M of
    0.113, the value of jets of one particle (tutorial "Generating jets").

    Args:
        n_particles: particles per jet.
        latent_dim: size of the jet's noise vector and of the global vector.
        particle_noise: noise features per particle (>= 1: the particles differ only
            through it).
        units: features per particle and hidden width.
        layers: EPiC layers.
        name: the model's name.

    Returns:
        A `keras.Model` taking `[noise (B, latent_dim), particle_noise (B, n, P)]` (a
        padding slot's noise all zero) and returning `(B, n_particles, 4)`.
    """
    if int(particle_noise) < 1:
        raise ValueError(f"the EPiC generator needs particle_noise >= 1 (its particles "
                         f"differ only through their noise), got {particle_noise}")
    noise = keras.Input((latent_dim,), name="noise")
    per_particle = keras.Input((n_particles, particle_noise), name="particle_noise")
    particles = keras.layers.Dense(units, activation="leaky_relu")(per_particle)
    global_features = keras.layers.Dense(units, activation="leaky_relu")(noise)
    global_features = keras.layers.Dense(latent_dim, activation="leaky_relu")(global_features)
    start_global, start_particles = global_features, particles
    for layer in range(int(layers)):
        global_features, particles = EPiC(units, EPIC_SUM_SCALE, name=f"epic_{layer}")(
            [global_features, particles, per_particle])
        global_features = keras.layers.Add()([global_features, start_global])
        particles = keras.layers.Add()([particles, start_particles])
    outputs = keras.layers.Concatenate(name="particles")([
        keras.layers.Dense(N_FEATURES, name="features")(particles),
        MaskLogit()(per_particle)])
    return keras.Model([noise, per_particle], outputs, name=name)


def build_epic_discriminator(n_particles=30, latent_dim=10, units=128, layers=3,
                             name="discriminator"):
    """EPiC-GAN's discriminator: a residual per-particle encoder, `EPiC` layers, and
    masked mean and sum pooling with the global vector into one score.

    Buhmann, Kasieczka and Thaler, SciPost Phys. 15, 130 (2023), sec. 2.2. Padding (all
    zero rows of the input) is never pooled; no batch normalisation (a critic's score
    must not depend on the rest of the batch).

    Args:
        n_particles: particles per jet.
        latent_dim: size of the global vector.
        units: features per particle and hidden width.
        layers: EPiC layers.
        name: the model's name.

    Returns:
        A `keras.Model` mapping `(B, n, 4)` to `(B, 1)` scores.
    """
    inputs = keras.Input((n_particles, N_FEATURES + 1), name="particles")

    def pooled(x):  # masked mean and scaled sum, as inside EPiC
        total = GlobalPooling("sum")([x, inputs])
        return [GlobalPooling("mean")([x, inputs]), keras.layers.Rescaling(EPIC_SUM_SCALE)(total)]

    x = keras.layers.Dense(units, activation="leaky_relu")(inputs)
    x = keras.layers.LeakyReLU()(keras.layers.Add()([keras.layers.Dense(units)(x), x]))
    h = keras.layers.Dense(units, activation="leaky_relu")(
        keras.layers.Concatenate()(pooled(x)))
    global_features = keras.layers.Dense(latent_dim, activation="leaky_relu")(h)
    for layer in range(int(layers)):
        global_features, x = EPiC(units, EPIC_SUM_SCALE, name=f"epic_{layer}")(
            [global_features, x, inputs])
    h = keras.layers.Dense(units, activation="leaky_relu")(
        keras.layers.Concatenate()([*pooled(x), global_features]))
    h = keras.layers.LeakyReLU()(keras.layers.Add()([keras.layers.Dense(units)(h), h]))
    return keras.Model(inputs, keras.layers.Dense(1)(h), name=name)


def discriminator_input(outputs):
    """Generator outputs `(B, n, 4)` as the discriminator sees them.

    The mask is hard (a particle is kept when its mask probability exceeds 0.5) with the
    straight-through gradient of the probability, and a dropped particle becomes an
    all-zero row: padding, exactly as in the real jets.
    """
    features, logits = outputs[..., :N_FEATURES], outputs[..., N_FEATURES:]
    soft = ops.sigmoid(logits)
    hard = ops.cast(soft > 0.5, soft.dtype)
    mask = hard + soft - ops.stop_gradient(soft)
    return ops.concatenate([features * mask, mask], axis=-1)


def discriminator_losses(objective, real_scores, fake_scores):
    """The discriminator's and the generator's loss for one batch (no penalty term)."""
    if objective == "lsgan":
        d_loss = ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores))
        g_loss = ops.mean(ops.square(fake_scores - 1.0))
    else:
        d_loss = ops.mean(fake_scores) - ops.mean(real_scores)
        g_loss = -ops.mean(fake_scores)
    return d_loss, g_loss


@keras.saving.register_keras_serializable(package="grapa")
class JetGAN(keras.Model):
    """A GAN for jets as sets of particles: EPiC-GAN's networks or the thesis's
    `Decompress` generator with an EdgeConv discriminator.

    Works on JetNet's relative particle features (eta_rel, phi_rel, pT_rel; see
    `grapa.data.relative`). Inside, pT_rel is taken as log(pT_rel) and all three are
    standardized over the training set's real particles; a fourth channel is the mask
    (1 for a particle, 0 for padding).

    Args:
        n_particles: particles per jet (the leading ones of the training jets).
        latent_dim, particle_noise, factors, units, updates: the generator
            (`build_jet_generator`).
        architecture: `"epic"` (the default: EPiC-GAN's equivariant point-cloud
            networks with the multiplicity drawn from the training jets,
            `build_epic_generator`, `build_epic_discriminator`) or `"decompress"` (the
            thesis's generator grown from one node by `Decompress` and an EdgeConv
            discriminator, `build_jet_generator`, `build_jet_discriminator`).
        latent_dim, particle_noise, units: the generator's noise and width; None takes
            the architecture's default (`ARCHITECTURE_DEFAULTS`).
        factors, updates: the decompress generator.
        k, blocks, dense: the decompress discriminator.
        generator_layers, discriminator_layers: EPiC layers of the epic networks.
        objective: `"wgan-gp"` or `"lsgan"`; None takes the architecture's default,
            the better one measured on simulated gluon jets (tutorial "Generating jets"):
            WGAN-GP for decompress (its least-squares discriminator won outright within
            ten epochs), least squares for epic (as in the EPiC-GAN paper; after three
            epochs W1-M 32 vs 69 x 10^-3 with the gradient penalty).
        generator_learning_rate, discriminator_learning_rate: Adam's learning rates
            (beta_1 = 0.5, as usual for GANs).
        critic_steps: discriminator steps per generator step.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:
        >>> gan = JetGAN()                                      # doctest: +SKIP
        >>> gan.fit(jets, epochs=100, validation_data=val_jets) # doctest: +SKIP
        >>> particles = gan.generate(10_000)                    # doctest: +SKIP
        >>> four_momenta = gan.generate_jets(10_000)            # doctest: +SKIP
    """

    def __init__(self, n_particles=30, architecture="epic", latent_dim=None,
                 particle_noise=None, factors=(5, 6), units=None, updates=2, k=10,
                 blocks=((64, 64), (64, 64)), dense=(128,), generator_layers=6,
                 discriminator_layers=3, objective=None, generator_learning_rate=1e-4,
                 discriminator_learning_rate=1e-4, critic_steps=1, feature_mean=None,
                 feature_std=None, feature_low=None, feature_high=None, pt_quantiles=None,
                 eta_quantiles=None, multiplicities=None, **kwargs):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got "
                             f"{architecture!r}")
        defaults = ARCHITECTURE_DEFAULTS[architecture]
        objective = defaults["objective"] if objective is None else objective
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if int(critic_steps) < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        self.architecture = architecture
        self.n_particles = int(n_particles)
        self.latent_dim = int(defaults["latent_dim"] if latent_dim is None else latent_dim)
        self.particle_noise = int(defaults["particle_noise"] if particle_noise is None
                                  else particle_noise)
        self.factors = (_factors(self.n_particles, factors) if architecture == "decompress"
                        else tuple(int(f) for f in factors))
        self.units = int(defaults["units"] if units is None else units)
        self.updates = int(updates)
        self.k = int(k)
        self.blocks = tuple(tuple(int(w) for w in block) for block in blocks)
        self.dense = tuple(int(w) for w in dense)
        self.generator_layers = int(generator_layers)
        self.discriminator_layers = int(discriminator_layers)
        self.objective = objective
        self.generator_learning_rate = float(generator_learning_rate)
        self.discriminator_learning_rate = float(discriminator_learning_rate)
        self.critic_steps = int(critic_steps)
        self.feature_mean = None if feature_mean is None else [float(v) for v in feature_mean]
        self.feature_std = None if feature_std is None else [float(v) for v in feature_std]
        self.feature_low = None if feature_low is None else [float(v) for v in feature_low]
        self.feature_high = None if feature_high is None else [float(v) for v in feature_high]
        self.pt_quantiles = None if pt_quantiles is None else [float(v) for v in pt_quantiles]
        self.eta_quantiles = (None if eta_quantiles is None
                              else [float(v) for v in eta_quantiles])
        self.multiplicities = (None if multiplicities is None
                               else [float(v) for v in multiplicities])
        if architecture == "epic":
            self.generator = build_epic_generator(self.n_particles, self.latent_dim,
                                                  self.particle_noise, self.units,
                                                  self.generator_layers)
            self.discriminator = build_epic_discriminator(self.n_particles, self.latent_dim,
                                                          self.units,
                                                          self.discriminator_layers)
        else:
            self.generator = build_jet_generator(self.n_particles, self.latent_dim,
                                                 self.particle_noise, self.factors,
                                                 self.units, self.updates)
            self.discriminator = build_jet_discriminator(self.n_particles, self.k,
                                                         self.blocks, self.dense)
        self.generator_optimizer = keras.optimizers.Adam(self.generator_learning_rate,
                                                         beta_1=0.5)
        self.discriminator_optimizer = keras.optimizers.Adam(
            self.discriminator_learning_rate, beta_1=0.5)
        # built now, so that a saved model keeps their state and can resume training
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.built = True

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    # ---- data <-> network coordinates ----------------------------------------------

    def _particles(self, data, what: str) -> np.ndarray:
        """Relative features `(n_jets, n_particles, 3)` from relative features or
        (E, px, py, pz) jets."""
        data = np.asarray(data)
        if data.ndim != 3 or data.shape[-1] not in (3, 4):
            raise ValueError(
                f"{what} must be (n_jets, n_particles, 3) relative features (eta_rel, "
                f"phi_rel, pt_rel) or (n_jets, n_constituents, 4) jets (E, px, py, pz), "
                f"got shape {data.shape}"
            )
        if data.shape[-1] == 4:
            data, _ = to_relative(data, self.n_particles)
        data = np.asarray(data, np.float64)
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{what} contain NaN or infinite values")
        if data.shape[1] < self.n_particles:
            data = np.pad(data, ((0, 0), (0, self.n_particles - data.shape[1]), (0, 0)))
        return data[:, : self.n_particles]

    def _network_input(self, particles: np.ndarray) -> np.ndarray:
        """Relative features -> standardized (eta, phi, log pT) and the mask."""
        real = particles[..., 2] > 0
        coordinates = np.stack(
            [particles[..., 0], particles[..., 1],
             np.log(np.where(real, particles[..., 2], 1.0))], axis=-1)
        coordinates = (coordinates - self.feature_mean) / self.feature_std
        out = np.concatenate([coordinates, real[..., None]], axis=-1)
        out[~real] = 0.0
        return out.astype("float32")

    def _relative(self, outputs: np.ndarray) -> np.ndarray:
        """Generator outputs -> relative features, leading pT first.

        Features are clipped to the training particles' range (eta_rel, phi_rel,
        log pT_rel): an undertrained generator's stray particle would otherwise dominate
        the jet's mass and the EFPs. Dropped particles become padding; every jet keeps at
        least one particle (an empty jet has no axis and no observables)."""
        features = outputs[..., :N_FEATURES] * self.feature_std + self.feature_mean
        if self.feature_low is not None:  # never outside what the training jets span
            features = np.clip(features, self.feature_low, self.feature_high)
        logits = outputs[..., N_FEATURES]
        # mask probability > 0.5; a jet keeps at least its most certain particle
        keep = (logits > 0.0) | (logits == logits.max(axis=1, keepdims=True))
        particles = np.stack(
            [features[..., 0], features[..., 1], np.exp(np.minimum(features[..., 2], 0.0))],
            axis=-1)
        particles[~keep] = 0.0
        order = np.argsort(-particles[..., 2], axis=1, kind="stable")
        return np.take_along_axis(particles, order[..., None], axis=1)

    def _adapt(self, particles: np.ndarray, kinematics) -> None:
        real = particles[..., 2] > 0
        coordinates = np.stack(
            [particles[..., 0][real], particles[..., 1][real], np.log(particles[..., 2][real])],
            axis=-1)
        self.feature_mean = [float(v) for v in coordinates.mean(axis=0)]
        self.feature_std = [float(v) for v in np.maximum(coordinates.std(axis=0), 1e-6)]
        self.feature_low = [float(v) for v in coordinates.min(axis=0)]
        self.feature_high = [float(v) for v in coordinates.max(axis=0)]
        counts = np.bincount(real.sum(axis=1), minlength=self.n_particles + 1)[1:]
        self.multiplicities = [float(v) for v in counts / max(counts.sum(), 1)]
        if kinematics is not None:
            grid = np.linspace(0.0, 1.0, KINEMATICS_QUANTILES)
            self.pt_quantiles = [float(v) for v in np.quantile(kinematics[:, 0], grid)]
            self.eta_quantiles = [float(v) for v in np.quantile(kinematics[:, 1], grid)]

    # ---- generation ------------------------------------------------------------------

    def _noise(self, rng, n: int) -> list[np.ndarray]:
        noise = [rng.standard_normal((n, self.latent_dim)).astype("float32")]
        if self.particle_noise:
            noise.append(rng.standard_normal(
                (n, self.n_particles, self.particle_noise)).astype("float32"))
        if self.architecture == "epic" and self.multiplicities is not None:
            # the training jets' multiplicity; slots beyond it get no noise: padding
            counts = 1 + rng.choice(self.n_particles, size=n, p=self.multiplicities)
            noise[1][np.arange(self.n_particles) >= counts[:, None]] = 0.0
        return noise

    def generate(self, n_jets: int, batch_size: int = 2048, seed=None) -> np.ndarray:
        """Generate jets as relative features.

        Args:
            n_jets: number of jets.
            batch_size: jets per generator call.
            seed: seed of the noise (None: fresh).

        Returns:
            `(n_jets, n_particles, 3)` float64 (eta_rel, phi_rel, pt_rel), leading pT
            first, dropped particles as all-zero padding.
        """
        self._check_trained()
        if int(n_jets) < 1:
            raise ValueError(f"n_jets must be >= 1, got {n_jets}")
        noise = self._noise(np.random.default_rng(seed), int(n_jets))
        # predict: one compiled function for every batch (an eager call per batch is
        # ~100x slower under JAX)
        outputs = self.generator.predict(self._generator_inputs(noise),
                                         batch_size=int(batch_size), verbose=0)
        return self._relative(np.asarray(outputs, np.float64))

    def generate_jets(self, n_jets: int, batch_size: int = 2048, seed=None) -> np.ndarray:
        """Generate jets as (E, px, py, pz) constituents, ready for `write_jets`.

        Each jet's pT and eta are drawn (independently) from the training jets'
        distributions, its azimuth uniformly; the particles are massless.

        Returns:
            `(n_jets, n_particles, 4)` float64 4-momenta, padding all zero.
        """
        from grapa.data.relative import from_relative

        if self.pt_quantiles is None:
            raise ValueError("this JetGAN was trained on relative features only, so it "
                             "knows no jet pT or eta: train it on (E, px, py, pz) jets, or "
                             "call generate() and grapa.data.relative.from_relative with "
                             "kinematics of your choice")
        particles = self.generate(n_jets, batch_size, seed)
        rng = np.random.default_rng(None if seed is None else seed + 1)
        grid = np.linspace(0.0, 1.0, KINEMATICS_QUANTILES)
        u = rng.random((2, len(particles)))
        kinematics = np.stack([
            np.interp(u[0], grid, self.pt_quantiles),
            np.interp(u[1], grid, self.eta_quantiles),
            rng.uniform(-np.pi, np.pi, len(particles)),
        ], axis=-1)
        return from_relative(particles, kinematics)

    def _check_trained(self) -> None:
        if self.feature_mean is None:
            raise ValueError("this JetGAN is not trained yet: call fit(jets) first")

    # ---- training --------------------------------------------------------------------

    def fit(self, x=None, y=None, *, epochs=100, batch_size=128, validation_data=None,
            validation_jets=10_000, validation_every=5, restore_best=True, seed=None,
            verbose=1):
        """Train generator and discriminator on real jets.

        Args:
            x: training jets: `(n_jets, n, 4)` (E, px, py, pz) or `(n_jets, n, 3)`
                relative features. With 4-momenta, the jets' pT and eta are kept for
                `generate_jets`. The first fit fixes the standardization of the
                features (and their range); a later fit goes on training with it.
            y: must be None (a GAN learns the jets, not labels).
            epochs: passes over the training jets.
            batch_size: jets per step.
            validation_data: held-out real jets (same formats as `x`); every
                `validation_every` epochs (and after the last) `validation_jets`
                generated jets are compared with them by W1 of the jet mass and of the
                three particle features, and with `restore_best` the generator of the
                epoch with the smallest sum W1-M + mean W1-P is kept.
            validation_jets: generated jets per validation.
            validation_every: epochs between validations.
            restore_best: keep the best validated epoch's weights.
            seed: seed of shuffling and noise (None: fresh).
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.

        Returns:
            A `keras.callbacks.History`; `history.history` has per-epoch `d_loss`,
            `g_loss`, `seconds`, and `w1m`, `w1p` at validated epochs (NaN elsewhere).
        """
        if y is not None:
            raise ValueError("JetGAN.fit takes jets only: leave y out")
        if int(epochs) < 1 or int(batch_size) < 1:
            raise ValueError(f"need epochs >= 1 and batch_size >= 1, got {epochs}, "
                             f"{batch_size}")
        kinematics = None
        data = np.asarray(x)
        if data.ndim == 3 and data.shape[-1] == 4:
            particles, kinematics = to_relative(data, self.n_particles)
            particles = self._particles(particles, "x")
        else:
            particles = self._particles(data, "x")
        if len(particles) < batch_size:
            raise ValueError(f"{len(particles)} training jets are fewer than batch_size="
                             f"{batch_size}")
        validation = (None if validation_data is None
                      else self._particles(validation_data, "validation_data"))
        if self.feature_mean is None:  # the first fit fixes the network's coordinates
            self._adapt(particles, kinematics)
        real_input = self._network_input(particles)
        rng = np.random.default_rng(seed)
        step, sync = self._train_step_function()
        history = {"d_loss": [], "g_loss": [], "seconds": [], "w1m": [], "w1p": []}
        best = (np.inf, None)
        steps = len(real_input) // batch_size
        for epoch in range(int(epochs)):
            order = rng.permutation(len(real_input))
            bar = keras.utils.Progbar(steps, verbose=verbose,
                                      stateful_metrics=["d_loss", "g_loss"])
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            start, losses = time.perf_counter(), []
            for batch in range(steps):
                real = real_input[order[batch * batch_size:(batch + 1) * batch_size]]
                d_loss, g_loss = step(real, rng)
                losses.append((d_loss, g_loss))
                if verbose and (batch % 20 == 0 or batch == steps - 1):
                    bar.update(batch + 1, [("d_loss", float(d_loss)),
                                           ("g_loss", float(g_loss))])
            sync()
            means = np.mean(np.asarray(losses, dtype=np.float64), axis=0)
            history["d_loss"].append(float(means[0]))
            history["g_loss"].append(float(means[1]))
            history["seconds"].append(time.perf_counter() - start)
            w1m = w1p = float("nan")
            last = epoch == int(epochs) - 1
            if validation is not None and ((epoch + 1) % validation_every == 0 or last):
                w1m, w1p = self._validate(validation, validation_jets, rng)
                if verbose:
                    print(f"  W1-M {w1m * 1e3:.2f}e-3  W1-P {w1p * 1e3:.2f}e-3")
                if w1m + w1p < best[0]:
                    best = (w1m + w1p, self.generator.get_weights())
            history["w1m"].append(w1m)
            history["w1p"].append(w1p)
        if restore_best and best[1] is not None:
            self.generator.set_weights(best[1])
        result = keras.callbacks.History()
        result.history = history
        result.epoch = list(range(int(epochs)))
        return result

    def _validate(self, validation: np.ndarray, n_jets: int, rng) -> tuple[float, float]:
        generated = self.generate(n_jets, seed=int(rng.integers(2**31)))
        reference = validation[rng.choice(len(validation), size=n_jets)]
        w1m = wasserstein_distance(relative_masses(generated), relative_masses(reference))
        real_g = generated[..., 2] > 0
        real_r = reference[..., 2] > 0
        w1p = np.mean([wasserstein_distance(generated[..., f][real_g], reference[..., f][real_r])
                       for f in range(N_FEATURES)])
        return float(w1m), float(w1p)

    def _train_step_function(self):
        """`(step, sync)`: step(real batch, rng) -> (d_loss, g_loss) runs one GAN step;
        sync() writes its state into the Keras variables (the JAX step is stateless)."""
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_step()
        if backend == "tensorflow":
            return self._tensorflow_step()
        raise NotImplementedError(
            f"JetGAN trains under the JAX or TensorFlow backend, this process runs "
            f"{backend!r}: set KERAS_BACKEND=jax (the grapa command line does)")

    def _step_inputs(self, real, rng):
        n = len(real)
        eps = rng.random((self.critic_steps, n, 1, 1)).astype("float32")
        d_noise = [self._noise(rng, n) for _ in range(self.critic_steps)]
        return eps, d_noise, self._noise(rng, n)

    def _generator_inputs(self, noise):
        return noise if len(noise) > 1 else noise[0]

    def _jax_step(self):
        import jax
        import jax.numpy as jnp

        generator, discriminator = self.generator, self.discriminator
        objective, penalty = self.objective, self.objective == "wgan-gp"
        g_opt, d_opt = self.generator_optimizer, self.discriminator_optimizer

        def critic(d_tv, d_ntv, x):
            return discriminator.stateless_call(d_tv, d_ntv, x, training=True)[0]

        def d_loss_fn(d_tv, d_ntv, g_tv, g_ntv, real, noise, eps):
            outputs, _ = generator.stateless_call(g_tv, g_ntv, self._generator_inputs(noise),
                                                  training=True)
            fake = jax.lax.stop_gradient(discriminator_input(outputs))
            loss, _ = discriminator_losses(objective, critic(d_tv, d_ntv, real),
                                           critic(d_tv, d_ntv, fake))
            if penalty:
                mixed = eps * real + (1.0 - eps) * fake
                grads = jax.grad(lambda m: jnp.sum(critic(d_tv, d_ntv, m)))(mixed)
                norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=(1, 2)) + 1e-12)
                loss = loss + GRADIENT_PENALTY * jnp.mean(jnp.square(norms - 1.0))
            return loss

        def g_loss_fn(g_tv, g_ntv, d_tv, d_ntv, noise):
            outputs, _ = generator.stateless_call(g_tv, g_ntv, self._generator_inputs(noise),
                                                  training=True)
            _, loss = discriminator_losses(objective, jnp.zeros((1, 1)),
                                           critic(d_tv, d_ntv, discriminator_input(outputs)))
            return loss

        def step(state, real, d_noises, g_noise, eps):
            g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov = state
            for i in range(len(d_noises)):
                d_loss, grads = jax.value_and_grad(d_loss_fn)(d_tv, d_ntv, g_tv, g_ntv, real,
                                                              d_noises[i], eps[i])
                d_tv, d_ov = d_opt.stateless_apply(d_ov, grads, d_tv)
            g_loss, grads = jax.value_and_grad(g_loss_fn)(g_tv, g_ntv, d_tv, d_ntv, g_noise)
            g_tv, g_ov = g_opt.stateless_apply(g_ov, grads, g_tv)
            return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov), d_loss, g_loss

        compiled = jax.jit(step, donate_argnums=0)
        groups = self._variable_groups()
        state = [tuple([v.value for v in variables] for variables in groups)]

        def run(real, rng):
            eps, d_noises, g_noise = self._step_inputs(real, rng)
            state[0], d_loss, g_loss = compiled(state[0], real, d_noises, g_noise, eps)
            return d_loss, g_loss

        def sync():
            # copies: the step donates its state's buffers, which the variables (read by
            # validation's predict) must not share
            for variables, values in zip(groups, state[0]):
                for variable, value in zip(variables, values):
                    variable.assign(jnp.array(value, copy=True))

        return run, sync

    def _variable_groups(self):
        return (self.generator.trainable_variables, self.generator.non_trainable_variables,
                self.discriminator.trainable_variables,
                self.discriminator.non_trainable_variables,
                self.generator_optimizer.variables, self.discriminator_optimizer.variables)

    def _tensorflow_step(self):
        import tensorflow as tf

        generator, discriminator = self.generator, self.discriminator
        objective, penalty = self.objective, self.objective == "wgan-gp"
        g_opt, d_opt = self.generator_optimizer, self.discriminator_optimizer

        @tf.function
        def step(real, d_noises, g_noise, eps):
            d_loss = tf.constant(0.0)
            for i in range(len(d_noises)):
                with tf.GradientTape() as tape:
                    outputs = generator(self._generator_inputs(d_noises[i]), training=True)
                    fake = tf.stop_gradient(discriminator_input(outputs))
                    d_loss, _ = discriminator_losses(
                        objective, discriminator(real, training=True),
                        discriminator(fake, training=True))
                    if penalty:
                        mixed = eps[i] * real + (1.0 - eps[i]) * fake
                        with tf.GradientTape() as inner:
                            inner.watch(mixed)
                            total = tf.reduce_sum(discriminator(mixed, training=True))
                        grads = inner.gradient(total, mixed)
                        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=(1, 2)) + 1e-12)
                        d_loss += GRADIENT_PENALTY * tf.reduce_mean(tf.square(norms - 1.0))
                weights = discriminator.trainable_variables
                d_opt.apply(tape.gradient(d_loss, weights), weights)
            with tf.GradientTape() as tape:
                outputs = generator(self._generator_inputs(g_noise), training=True)
                _, g_loss = discriminator_losses(
                    objective, tf.zeros((1, 1)),
                    discriminator(discriminator_input(outputs), training=True))
            weights = generator.trainable_variables
            g_opt.apply(tape.gradient(g_loss, weights), weights)
            return d_loss, g_loss

        def run(real, rng):
            eps, d_noises, g_noise = self._step_inputs(real, rng)
            return step(real, d_noises, g_noise, eps)

        return run, lambda: None

    # ---- saving ----------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "n_particles": self.n_particles,
            "architecture": self.architecture,
            "latent_dim": self.latent_dim,
            "particle_noise": self.particle_noise,
            "factors": list(self.factors),
            "units": self.units,
            "updates": self.updates,
            "k": self.k,
            "blocks": [list(block) for block in self.blocks],
            "dense": list(self.dense),
            "generator_layers": self.generator_layers,
            "discriminator_layers": self.discriminator_layers,
            "objective": self.objective,
            "generator_learning_rate": self.generator_learning_rate,
            "discriminator_learning_rate": self.discriminator_learning_rate,
            "critic_steps": self.critic_steps,
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "feature_low": self.feature_low,
            "feature_high": self.feature_high,
            "pt_quantiles": self.pt_quantiles,
            "eta_quantiles": self.eta_quantiles,
            "multiplicities": self.multiplicities,
        }
