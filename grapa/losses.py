"""Reconstruction losses of a jet autoencoder (Klüttermann 2021, sec. 4.5).

Every loss maps `(target, output)`, both `(batch, nodes, features)` in the feature space
`(flag, d_eta, d_phi, lpt)`, to one loss per jet `(batch,)`: the jet's anomaly score.
Training minimizes their mean. `get` turns a name or a config dict into a loss, so a
model's loss is stored in its config as plain JSON.
"""

from __future__ import annotations

from keras import ops

# Columns of the node features made by grapa.layers.JetFeatures.
_D_ETA, _D_PHI, _LPT = 1, 2, 3


def squared_errors(target, output):
    """Per (node, feature) squared errors `(batch, nodes, features)`: the feature losses."""
    return ops.square(target - output)


def l2(target, output):
    r"""Mean squared error per jet: $\frac{1}{nF}\sum_{i,f} (t_{if} - o_{if})^2$ (sec. 4.5.1)."""
    return ops.mean(squared_errors(target, output), axis=(1, 2))


def ln(target, output, power=1.0):
    r"""Mean `|d|^n` per jet (sec. 4.5.2), smooth for n < 1.

    For `power >= 1`: $\operatorname{mean}|t - o|^n$. For `power < 1`, $|d|^n$ has an
    infinite slope at 0 (NaNs in training, appendix B.3.2), so the smoothed
    $(|d| + 1)^n - 1$ is used instead (footnote 39: $\sqrt{|d| + 1} - 1$ for n = 1/2).
    """
    difference = ops.abs(target - output)
    if power < 1:
        values = ops.power(difference + 1.0, power) - 1.0
    else:
        values = ops.power(difference, power)
    return ops.mean(values, axis=(1, 2))


def image_like(target, output, k=0.1, alpha=1.0, c=1.0):
    r"""Image-like loss (sec. 4.5.3, eq. 4.5): a particle counts as found if its angles match.

    Per node, with the angular distance $d = \sqrt{\Delta\eta^2 + \Delta\phi^2}$ between
    target and output:

    $$ f(d) = \frac{k + e^{-\alpha d}}{k + 1}, \qquad
       L_i = (1 - f(d))\,c + f(d)\,(\text{lpt}^t_i - \text{lpt}^o_i)^2 $$

    averaged over the nodes; `k = 0.1`, `alpha ~ 1` and the constant `c = 1` as in the
    thesis.
    """
    d_eta = target[..., _D_ETA] - output[..., _D_ETA]
    d_phi = target[..., _D_PHI] - output[..., _D_PHI]
    # sqrt has an infinite slope at 0: a tiny offset keeps gradients finite.
    distance = ops.sqrt(d_eta * d_eta + d_phi * d_phi + 1e-12)
    found = (k + ops.exp(-alpha * distance)) / (k + 1.0)
    lpt_error = ops.square(target[..., _LPT] - output[..., _LPT])
    return ops.mean((1.0 - found) * c + found * lpt_error, axis=1)


def chamfer(target, output):
    r"""Symmetric Chamfer distance between the target and output node sets.

    Needs no sorting of the output (the thesis lists a permutation-invariant loss as
    open, sec. 9.1). With $c_{ij} = \lVert t_i - o_j \rVert^2$ over all features:

    $$ L = \frac{1}{n}\sum_i \min_j c_{ij} + \frac{1}{n}\sum_j \min_i c_{ij} $$

    The flag is one of the features, so real nodes are matched with real nodes and
    padding (all zero) with padding: a real output matched to a padding target costs at
    least 1 through the flag alone.
    """
    difference = ops.expand_dims(target, 2) - ops.expand_dims(output, 1)
    cost = ops.sum(ops.square(difference), axis=-1)  # (batch, target i, output j)
    return ops.mean(ops.min(cost, axis=2), axis=1) + ops.mean(ops.min(cost, axis=1), axis=1)


LOSSES = {"l2": l2, "ln": ln, "image_like": image_like, "chamfer": chamfer}


def get(identifier):
    """A per-jet loss from a name (`"l2"`), a config dict (`{"name": "ln", "power": 0.5}`)
    or a callable `(target, output) -> (batch,)`.
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        identifier = {"name": identifier}
    if isinstance(identifier, dict) and identifier.get("name") in LOSSES:
        options = {k: v for k, v in identifier.items() if k != "name"}
        function = LOSSES[identifier["name"]]
        if not options:
            return function
        return lambda target, output: function(target, output, **options)
    raise ValueError(
        f"Unknown reconstruction loss {identifier!r}: use one of {sorted(LOSSES)}, e.g. "
        "'l2' or {'name': 'ln', 'power': 0.5}, or pass a function (target, output) -> (batch,)."
    )
