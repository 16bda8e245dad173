"""Jet preprocessing layers: constituent 4-vectors to graph node features, node sorting."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import gather_nodes, node_mask, stable_sort_order

# Smallest transverse momentum (GeV) used in divisions and logarithms. A real constituent
# with pT = 0 (along the beam) would give eta = inf and lpt = inf; clamping keeps every
# output finite (eta of ~ +-20 and a large lpt flag such an unphysical constituent).
_MIN_PT = 1e-6

FEATURE_NAMES = ("flag", "d_eta", "d_phi", "lpt")


def _sqrt_where(value, where):
    """sqrt(value) where `where`, else 0, with finite gradients at 0."""
    return ops.where(where, ops.sqrt(ops.where(where, value, 1.0)), 0.0)


@keras.saving.register_keras_serializable(package="grapa")
class JetFeatures(keras.layers.Layer):
    r"""Constituent 4-vectors `(E, px, py, pz)` to node features `(flag, d_eta, d_phi, lpt)`.

    Klüttermann 2021, sec. 3.2 and appendix B.3.1. For every real constituent `i` of a jet:

    $$
    \begin{aligned}
    \text{flag}_i &= 1, \qquad
    \eta = \operatorname{asinh}(p_z / p_T), \qquad \phi = \operatorname{atan2}(p_y, p_x),\\
    \Delta\eta_i &= \eta_i - \eta_\text{axis}, \qquad
    \Delta\phi_i = \phi_i - \phi_\text{axis} \ \text{wrapped into } (-\pi, \pi],\\
    \text{lpt}_i &= -\log\left(p_{T,i} / \textstyle\sum_{j\,\text{real}} p_{T,j}\right),
    \end{aligned}
    $$

    where the jet axis is the summed 4-vector of the jet's real constituents, so a jet
    straddling phi = +-pi comes out compact (d_phi is computed as the transverse angle
    between constituent and axis, atan2 of their cross and dot products, which needs no
    wrapping). `lpt >= 0` and `sum_i exp(-lpt_i) = 1`.
    A constituent whose 4-vector is all zero is padding: all four outputs are 0, and it
    changes nothing for the real constituents. An all-zero jet gives all zeros, never NaN.

    Example:

    >>> jets = keras.random.normal((2, 16, 4))   # (E, px, py, pz) per constituent
    >>> JetFeatures()(jets).shape
    (2, 16, 4)

    Input shape:
        `(batch, nodes, 4)`: constituent 4-vectors `(E, px, py, pz)` in GeV.

    Output shape:
        `(batch, nodes, 4)`: `(flag, d_eta, d_phi, lpt)`.
    """

    def compute_output_shape(self, input_shape):
        if input_shape[-1] != 4:
            raise ValueError(
                f"JetFeatures expects constituent 4-vectors (E, px, py, pz) on the last axis, "
                f"got input shape {tuple(input_shape)}. Pass jets shaped (batch, nodes, 4)."
            )
        return tuple(input_shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, jets):
        jets = ops.cast(jets, self.compute_dtype)
        real = node_mask(jets)
        _, px, py, pz = ops.unstack(jets, num=4, axis=-1)
        pt = ops.maximum(_sqrt_where(px * px + py * py, real), _MIN_PT)
        eta = ops.arcsinh(pz / pt)

        axis_px, axis_py, axis_pz = (ops.sum(p, axis=1, keepdims=True) for p in (px, py, pz))
        axis_has_pt = ops.greater(axis_px * axis_px + axis_py * axis_py, 0)
        axis_pt = ops.maximum(_sqrt_where(axis_px * axis_px + axis_py * axis_py, axis_has_pt), _MIN_PT)
        axis_eta = ops.arcsinh(axis_pz / axis_pt)
        # d_phi as the angle from the axis to the constituent in the transverse plane:
        # atan2 of their cross and dot products lies in (-pi, pi] by itself and, unlike
        # phi - phi_axis, loses no precision for jets near phi = +-pi.
        cross = py * axis_px - px * axis_py
        dot = px * axis_px + py * axis_py
        defined = ops.logical_and(real, axis_has_pt)  # atan2(0, 0) has a NaN gradient
        d_phi = ops.where(defined, ops.arctan2(cross, ops.where(defined, dot, 1.0)), 0.0)

        pt_sum = ops.sum(ops.where(real, pt, 0.0), axis=1, keepdims=True)
        lpt = ops.log(ops.maximum(pt_sum, _MIN_PT)) - ops.log(pt)

        features = ops.stack(
            [ops.ones_like(eta), eta - axis_eta, d_phi, lpt], axis=-1
        )
        return ops.where(ops.expand_dims(real, -1), features, 0.0)


@keras.saving.register_keras_serializable(package="grapa")
class SortNodes(keras.layers.Layer):
    r"""Sort the nodes of each jet by one feature; stable; padding nodes always last.

    Klüttermann 2021, sec. 4.4 and appendix C.2.4: input and output of an autoencoder are
    both sorted by lpt, so that a perfect reconstruction in another node order is not
    punished. The default (`feature=3`, ascending lpt) is pT descending.

    $$ x'_{r} = x_{\pi(r)}, \qquad \pi \text{ sorts } x_{\cdot, f} \text{ (stable)} $$

    Padding nodes (all-zero feature vectors) go last, whatever their feature value (their
    lpt of 0 would otherwise sort them first). Nodes with equal keys keep their order.

    Args:
        feature: index of the feature to sort by (negative counts from the end).
        descending: sort from the largest value to the smallest.

    Input shape:
        `(batch, nodes, features)`.

    Output shape:
        `(batch, nodes, features)`, nodes reordered.
    """

    def __init__(self, feature=3, descending=False, **kwargs):
        super().__init__(**kwargs)
        self.feature = int(feature)
        self.descending = bool(descending)

    def build(self, input_shape):
        features = input_shape[-1]
        if features is not None and not -features <= self.feature < features:
            raise ValueError(
                f"SortNodes(feature={self.feature}) needs at least {abs(self.feature) + (self.feature >= 0)} "
                f"features, got input shape {tuple(input_shape)}. Choose a feature index below {features}."
            )

    def call(self, x):
        key = x[..., self.feature]
        if self.descending:
            key = -key
        return gather_nodes(x, stable_sort_order(key, node_mask(x)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "feature": self.feature, "descending": self.descending}


PARTICLE_FEATURE_NAMES = ("d_eta", "d_phi", "log_pt", "log_e", "log_pt_fraction",
                          "log_e_fraction", "delta_r")


@keras.saving.register_keras_serializable(package="grapa")
class ParticleFeatures(keras.layers.Layer):
    r"""Constituent 4-vectors to ParticleNet's seven particle features.

    Qu & Gouskos, Phys. Rev. D 101 (2020) 056019, table I (top tagging): for each real
    constituent, from `JetFeatures`' angles and momentum fraction,

    $$
    \big(\Delta\eta,\ \Delta\phi,\ \ln p_T,\ \ln E,\ \ln\tfrac{p_T}{p_{T,\text{jet}}},\
    \ln\tfrac{E}{E_\text{jet}},\ \Delta R = \sqrt{\Delta\eta^2 + \Delta\phi^2}\big)
    $$

    with `p_T,jet` and `E_jet` the scalar sums over the jet's real constituents (so
    `ln(pT / pT_jet) = -lpt`); momenta in GeV. Padding constituents give all-zero rows.
    The first two features are the coordinates of ParticleNet's first kNN graph.

    Input shape:
        `(batch, nodes, 4)`: `(E, px, py, pz)` in GeV.

    Output shape:
        `(batch, nodes, 7)`, in the order of `PARTICLE_FEATURE_NAMES`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.jet_features = JetFeatures(dtype=self.dtype_policy)

    def compute_output_shape(self, input_shape):
        self.jet_features.compute_output_shape(input_shape)
        return (*input_shape[:-1], len(PARTICLE_FEATURE_NAMES))

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, jets):
        jets = ops.cast(jets, self.compute_dtype)
        real = node_mask(jets)
        _, d_eta, d_phi, lpt = ops.unstack(self.jet_features(jets), num=4, axis=-1)
        energy, px, py, _ = ops.unstack(jets, num=4, axis=-1)
        pt = ops.maximum(_sqrt_where(px * px + py * py, real), _MIN_PT)
        energy = ops.maximum(ops.where(real, energy, 1.0), _MIN_PT)
        energy_sum = ops.sum(ops.where(real, energy, 0.0), axis=1, keepdims=True)
        log_energy = ops.log(energy)
        features = ops.stack([
            d_eta, d_phi, ops.log(pt), log_energy, -lpt,
            log_energy - ops.log(ops.maximum(energy_sum, _MIN_PT)),
            _sqrt_where(d_eta * d_eta + d_phi * d_phi, real),
        ], axis=-1)
        return ops.where(ops.expand_dims(real, -1), features, 0.0)
