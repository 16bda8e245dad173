"""write_report: the model next to the baselines on the same jets, numbers recomputed by hand."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from grapa.data import jet_observables
from grapa.report import model_constituents, write_report


class MultiplicityModel:
    """A model with only `score`: more constituents = more anomalous."""

    name = "multiplicity"

    def score(self, jets):
        return np.any(jets, axis=-1).sum(axis=-1).astype(float)


def _auc(background, signal):
    return roc_auc_score(np.r_[np.zeros(len(background)), np.ones(len(signal))],
                         np.r_[background, signal])


@pytest.fixture(scope="module")
def report(sample_jets, tmp_path_factory):
    qcd, top = sample_jets
    out = tmp_path_factory.mktemp("report")
    return out, write_report(MultiplicityModel(), qcd[-600:], top[:500], out,
                             reference=qcd[:1000])


def test_model_and_baselines_are_scored_on_the_same_jets(report, sample_jets):
    out, content = report
    qcd, top = sample_jets
    assert content == json.loads((out / "report.json").read_text())
    scores = np.load(out / "scores.npz")
    model = MultiplicityModel()
    np.testing.assert_array_equal(scores["background"], model.score(qcd[-600:]))
    assert content["auc"] == pytest.approx(_auc(scores["background"], scores["signal"]), abs=1e-12)
    # the mass baseline by hand: distance from the reference jets' median mass
    median = np.median(jet_observables(qcd[:1000])["mass"])
    background = np.abs(jet_observables(qcd[-600:])["mass"] - median)
    signal = np.abs(jet_observables(top[:500])["mass"] - median)
    np.testing.assert_allclose(scores["mass_background"], background, rtol=1e-9)
    assert content["compared"]["mass"]["auc"] == pytest.approx(_auc(background, signal), abs=1e-12)
    assert set(content["compared"]) == {"mass", "observables"}
    assert content["n_reference"] == 1000
    # Hanley-McNeil: the error of an AUC A with n_b, n_s jets
    a = content["auc"]
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    expected = np.sqrt((a * (1 - a) + 499 * (q1 - a**2) + 599 * (q2 - a**2)) / (600 * 500))
    assert content["auc_error"] == pytest.approx(expected, rel=1e-9)


def test_markdown_tables_every_scorer_and_says_which_wins(report):
    out, content = report
    text = (out / "report.md").read_text()
    for name, row in {"multiplicity": content, **content["compared"]}.items():
        assert f"| {name} | {row['auc']:.4f} +- {row['auc_error']:.4f} |" in text
    assert "best compared scorer (mass)" in text
    # a model without reconstruct gets no autoencoder figures
    assert content["figures"] == ["losses.png", "roc.png"]
    assert (out / "roc.png").read_bytes().startswith(b"\x89PNG")


def test_without_reference_the_baselines_are_left_out_and_said_so(sample_jets, tmp_path):
    qcd, top = sample_jets
    content = write_report(MultiplicityModel(), qcd[:100], top[:100], tmp_path)
    assert content["compared"] == {}
    assert "mass" in content["compared_skipped"]
    assert "Baselines left out" in (tmp_path / "report.md").read_text()


def test_unknown_baseline_is_named(sample_jets, tmp_path):
    qcd, top = sample_jets
    with pytest.raises(ValueError, match="unknown baselines \\['jet_width'\\]"):
        write_report(MultiplicityModel(), qcd[:50], top[:50], tmp_path, reference=qcd[:100],
                     compared=["mass", "jet_width"])


def test_an_autoencoder_reads_only_its_own_constituents(sample_jets):
    from grapa.models import JetDensity, build_graph_autoencoder

    assert model_constituents(build_graph_autoencoder("jets4")) == 4
    assert model_constituents(JetDensity()) is None
