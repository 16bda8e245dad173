"""Jet data: read, validate and stream the top-tagging format; simulate new jets.

Everything here works on raw constituent 4-vectors ``(E, px, py, pz)``; preprocessing
happens inside the models (SPEC sec. 1).
"""

from pathlib import Path

from grapa.data.checks import EmptyJetsWarning, check_jets
from grapa.data.observables import (
    SUBSTRUCTURE_OBSERVABLES,
    jet_observables,
    substructure_observables,
)
from grapa.data.simulate import PROCESSES, simulate
from grapa.data.splits import AnomalySplit, anomaly_split
from grapa.data.stream import JetSequence
from grapa.data.summary import count_empty_jets, describe_jets
from grapa.data.toptagging import JetDataError, constituent_columns, read_jets, write_jets

SAMPLE_FILE = "toptagging_sample.h5"


def sample_path() -> Path:
    """Path of the sample shipped with grapa: QCD (label 0) and top (label 1) jets.

    The file is in the top-tagging schema with the 30 leading constituents; how it was
    made is recorded in ``grapa/data/samples/README.md``.

    Returns:
        The path of the HDF5 file, key ``"table"``.
    """
    return Path(__file__).parent / "samples" / SAMPLE_FILE


__all__ = [
    "AnomalySplit",
    "anomaly_split",
    "check_jets",
    "EmptyJetsWarning",
    "PROCESSES",
    "JetDataError",
    "JetSequence",
    "constituent_columns",
    "count_empty_jets",
    "describe_jets",
    "jet_observables",
    "read_jets",
    "sample_path",
    "simulate",
    "substructure_observables",
    "SUBSTRUCTURE_OBSERVABLES",
    "write_jets",
]
