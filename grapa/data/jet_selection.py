"""From Pythia events to jets: FastJet clustering, the jet window, truth matching.

The visible final-state particles of each event (everything but neutrinos) are clustered
by FastJet with anti-kT, R = 0.8, through its Awkward interface. The leading jet is kept
when its pT lies in the window (550-650 GeV unless asked otherwise), |eta| < 2 and, for
``top``, ``w``, ``z``, ``quark`` and ``gluon``, when it lies within dR < 0.6 of a truth
particle of that kind; its constituents, sorted by pT, are zero padded to
``n_constituents`` slots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import awkward as ak

JET_RADIUS = 0.8
JET_PT_MIN, JET_PT_MAX = 550.0, 650.0
JET_ABS_ETA_MAX = 2.0
MATCH_RADIUS = 0.6
NEUTRINO_IDS = (12, 14, 16)
QUARK_IDS = (1, 2, 3, 4, 5)
GLUON_ID = 21
TOP_ID = 6
W_ID, Z_ID = 24, 23



def select_jets(
    events: ak.Array,
    truth: str | None,
    n_constituents: int,
    pt_window: tuple[float, float] = (JET_PT_MIN, JET_PT_MAX),
) -> np.ndarray:
    """Cluster a batch of Pythia events and return the accepted leading jets.

    Args:
        events: Awkward array returned by ``pythia8mc.Pythia.nextBatch``.
        truth: ``"top"``, ``"w"``, ``"z"``, ``"quark"``, ``"gluon"`` to require a
            matching truth particle within dR < 0.6 of the jet axis, or None for none.
        n_constituents: constituent slots of the output.
        pt_window: accepted jet pT range (GeV), both ends included.

    Returns:
        float32 array (n_accepted, n_constituents, 4) of (E, px, py, pz), constituents
        sorted by pT descending and zero padded.
    """
    import awkward as ak

    particles = _visible_final_particles(events)
    jets, constituent_index = _cluster(particles)
    # [[i]] for the hardest jet of each event, [] for an event without jets
    leading = ak.singletons(ak.argmax(np.hypot(jets.px, jets.py), axis=1))
    px, py, pz = (
        ak.to_numpy(ak.fill_none(ak.firsts(jets[leading][c]), 0.0)) for c in ("px", "py", "pz")
    )
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    pt_min, pt_max = pt_window
    accepted = (pt >= pt_min) & (pt <= pt_max) & (np.abs(eta) < JET_ABS_ETA_MAX)
    if truth is not None:
        accepted &= _matched(_TRUTH_SELECTORS[truth](events), eta, np.arctan2(py, px))
    constituents = particles[accepted][constituent_index[leading][accepted][:, 0]]
    return _pad_constituents(constituents, n_constituents)


def _visible_final_particles(events):
    import awkward as ak

    prt = events.prt
    visible = prt.status > 0
    for neutrino in NEUTRINO_IDS:
        visible = visible & (abs(prt.id) != neutrino)
    momenta = prt.p[visible]
    return ak.zip(
        {"px": momenta.px, "py": momenta.py, "pz": momenta.pz, "E": momenta.e},
        with_name="Momentum4D",
    )


def _cluster(particles):
    """Anti-kT R=0.8 on every event at once; returns (jets, constituent indices)."""
    import fastjet

    _silence_fastjet_banner()
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS)
    sequence = fastjet.ClusterSequence(particles, definition)
    return sequence.inclusive_jets(), sequence.constituent_index()


def _silence_fastjet_banner() -> None:
    import fastjet

    try:
        fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)
    except AttributeError:  # a fastjet without the SWIG layer: the banner just prints
        pass


def _pad_constituents(constituents, n_constituents: int) -> np.ndarray:
    import awkward as ak

    order = ak.argsort(np.hypot(constituents.px, constituents.py), axis=1, ascending=False)
    constituents = ak.pad_none(constituents[order], n_constituents, axis=1, clip=True)
    columns = [ak.to_numpy(ak.fill_none(constituents[c], 0.0)) for c in ("E", "px", "py", "pz")]
    return np.stack(columns, axis=-1).astype(np.float32).reshape(-1, n_constituents, 4)


def _matched(truth_particles, jet_eta: np.ndarray, jet_phi: np.ndarray) -> np.ndarray:
    """Whether any truth particle of each event lies within dR < 0.6 of its jet axis."""
    import awkward as ak

    momenta = truth_particles.p
    pt = np.hypot(momenta.px, momenta.py)
    d_eta = np.arcsinh(momenta.pz / pt) - jet_eta
    d_phi = (np.arctan2(momenta.py, momenta.px) - jet_phi + np.pi) % (2 * np.pi) - np.pi
    close = d_eta**2 + d_phi**2 < MATCH_RADIUS**2
    return ak.to_numpy(ak.fill_none(ak.any(close, axis=1), False))


def _last_copies(events, particle_id: int):
    """Particles of ``|id| == particle_id`` in their last copy before decay (their first
    daughter is of another kind): the top quark, W or Z whose decay makes the jet."""
    prt = events.prt
    is_kind = abs(prt.id) == particle_id
    return prt[is_kind & (abs(prt.id[prt.daughter1]) != particle_id)]


def _hard_partons(events, ids: tuple[int, ...]):
    """Outgoing partons of the hard 2 -> 2 process (status +-23) with |id| in ``ids``."""
    prt = events.prt
    wanted = abs(prt.status) == 23
    kind = abs(prt.id) == ids[0]
    for parton_id in ids[1:]:
        kind = kind | (abs(prt.id) == parton_id)
    return prt[wanted & kind]


_TRUTH_SELECTORS = {
    "top": lambda events: _last_copies(events, TOP_ID),
    "w": lambda events: _last_copies(events, W_ID),
    "z": lambda events: _last_copies(events, Z_ID),
    "quark": lambda events: _hard_partons(events, QUARK_IDS),
    "gluon": lambda events: _hard_partons(events, (GLUON_ID,)),
}
