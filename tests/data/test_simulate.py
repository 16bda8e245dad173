"""Tests of grapa.data.simulate: Pythia 8 + FastJet jets in the top-tagging schema.

The simulations are marked slow (deselect with -m "not slow"); all of them together
take about a minute on two cores.
"""

import importlib

import numpy as np
import pandas as pd
import pytest

from grapa.cli import main
from grapa.data import read_jets, simulate
from grapa.data.simulate import pythia_seeds

pythia8mc = pytest.importorskip("pythia8mc")
fastjet = pytest.importorskip("fastjet")

# the module, which the function grapa.data.simulate shadows as an attribute
simulate_module = importlib.import_module("grapa.data.simulate")
N_JETS = 100


def kinematics(jets):
    """Jet pT, eta and mass from the summed constituents, computed here with numpy."""
    energy, px, py, pz = jets.sum(axis=1, dtype=np.float64).T
    pt = np.hypot(px, py)
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, np.arcsinh(pz / pt), mass


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """100 jets of each built-in process, all 200 constituent slots."""
    directory = tmp_path_factory.mktemp("simulated")
    files = {}
    for seed, process in enumerate(["qcd", "top", "quark", "gluon"]):
        path = simulate(process, N_JETS, directory / f"{process}.h5", seed=seed, workers=2)
        files[process] = read_jets(path)
    return files


@pytest.mark.slow
@pytest.mark.parametrize("process", ["qcd", "top", "quark", "gluon"])
def test_jets_pass_the_selection(simulated, process):
    jets, labels = simulated[process]
    assert jets.shape == (N_JETS, 200, 4)
    np.testing.assert_array_equal(labels, np.full(N_JETS, int(process == "top")))
    pt, eta, _ = kinematics(jets)
    # float32 constituents: the summed pT may differ from FastJet's by a few MeV
    assert pt.min() >= 550 - 0.01 and pt.max() <= 650 + 0.01
    assert np.abs(eta).max() < 2 + 1e-4
    constituent_pt = np.hypot(jets[..., 1], jets[..., 2])
    assert (np.diff(constituent_pt, axis=1) <= 1e-3).all()  # sorted, padding last
    momentum = np.linalg.norm(jets[..., 1:], axis=-1)
    assert (jets[..., 0] >= momentum * (1 - 1e-5)).all()  # physical: E >= |p|


@pytest.mark.slow
def test_top_jets_carry_the_top_mass(simulated):
    top_mass = np.median(kinematics(simulated["top"][0])[2])
    qcd_mass = np.median(kinematics(simulated["qcd"][0])[2])
    assert 150 <= top_mass <= 200
    assert qcd_mass < top_mass - 50


@pytest.mark.slow
def test_gluon_jets_have_more_constituents_than_quark_jets(simulated):
    def multiplicity(process):
        return np.any(simulated[process][0], axis=-1).sum(axis=1).mean()

    assert multiplicity("gluon") > 1.3 * multiplicity("quark")


@pytest.mark.slow
def test_w_and_z_jets_near_1_tev_carry_their_boson_masses(tmp_path):
    """The UCluster study's W / Z jets in a 950-1050 GeV window: the truth-matched boson's
    decay products make the jet, so the median mass sits near m_W = 80.4 / m_Z = 91.2."""
    medians = {}
    for seed, process in enumerate(["w", "z"]):
        path = simulate(process, 40, tmp_path / f"{process}.h5", seed=seed, workers=2,
                        n_constituents=60, pt_min=950, pt_max=1050, progress=False)
        jets, labels = read_jets(path)
        pt, _, mass = kinematics(jets)
        assert pt.min() >= 950 - 0.01 and pt.max() <= 1050 + 0.01 and (labels == 0).all()
        medians[process] = np.median(mass)
    assert 75 <= medians["w"] <= 88 and 86 <= medians["z"] <= 100
    assert medians["z"] > medians["w"]


def test_the_hard_process_window_follows_the_jet_window(tmp_path):
    settings = simulate_module.process_settings("w", pt_window=(950.0, 1050.0))
    assert "PhaseSpace:pTHatMin = 900.0" in settings
    assert "PhaseSpace:pTHatMax = 1100.0" in settings
    assert "24:onIfAny = 1 2 3 4 5" in settings
    with pytest.raises(ValueError, match="pt_min below pt_max"):
        simulate("qcd", 10, tmp_path / "x.h5", pt_min=700, pt_max=600)
    assert not (tmp_path / "x.h5").exists()


def test_cli_names_the_pt_flags_of_a_bad_window(tmp_path, capsys):
    code = main(["simulate", "--process", "w", "--jets", "5", "--out", str(tmp_path / "w.h5"),
                 "--pt-min", "1000", "--pt-max", "900"])
    assert code != 0
    assert "--pt-min 1000 --pt-max 900" in capsys.readouterr().err
    assert not (tmp_path / "w.h5").exists()


@pytest.mark.slow
def test_same_seed_same_file_whatever_the_workers(tmp_path):
    # 300 jets = two chunks, so two workers really share the work
    one = simulate("qcd", 300, tmp_path / "one.h5", seed=7, n_constituents=20, progress=False)
    two = simulate("qcd", 300, tmp_path / "two.h5", seed=7, workers=2, n_constituents=20)
    other = simulate("qcd", 30, tmp_path / "other.h5", seed=8, n_constituents=20)
    pd.testing.assert_frame_equal(pd.read_hdf(one, "table"), pd.read_hdf(two, "table"))
    assert not np.array_equal(read_jets(other)[0], read_jets(one, stop=30)[0])


@pytest.mark.slow
def test_custom_process_and_label(tmp_path):
    path = simulate(
        "custom",
        20,
        tmp_path / "gg.h5",
        settings=("HardQCD:gg2gg = on",),
        label=3,
        n_constituents=10,
    )
    jets, labels = read_jets(path)
    assert jets.shape == (20, 10, 4) and (labels == 3).all()


@pytest.mark.slow
def test_cli_simulate_then_inspect(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)  # main() sets it; restored after
    path = tmp_path / "top.h5"
    args = ["simulate", "--process", "top", "--jets", "60", "--out", str(path), "--seed", "1"]
    assert main(args + ["--workers", "2", "--constituents", "50"]) == 0
    frame = pd.read_hdf(path, key="table")
    assert frame.shape == (60, 201) and (frame["is_signal_new"] == 1).all()
    capsys.readouterr()
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "60 jets, 50 constituent slots" in out and "100.0%" in out
    median_mass = np.median(kinematics(read_jets(path)[0])[2])
    assert f"{median_mass:.1f}" in out


@pytest.mark.slow
def test_reads_a_file_from_an_independent_pythia_script(tmp_path):
    """A plain pythia8mc + FastJet loop, written with pandas, as a user would."""
    pythia = pythia8mc.Pythia("", False)
    for setting in [
        "Beams:eCM = 14000.",
        "HardQCD:all = on",
        "PartonLevel:MPI = off",
        "PhaseSpace:pTHatMin = 500.",
        "PhaseSpace:pTHatMax = 700.",
        "Print:quiet = on",
        "Random:setSeed = on",
        "Random:seed = 4242",
    ]:
        assert pythia.readString(setting)
    assert pythia.init()
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8)
    rows, jet_pts = [], []
    while len(rows) < 5:
        pythia.next()
        particles = [
            fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e())
            for p in pythia.event
            if p.isFinal() and p.idAbs() not in (12, 14, 16)
        ]
        sequence = fastjet.ClusterSequence(particles, definition)  # keep alive for constituents
        jet = fastjet.sorted_by_pt(sequence.inclusive_jets())[0]
        if not (550 <= jet.pt() <= 650 and abs(jet.eta()) < 2):
            continue
        row = {}
        for i, c in enumerate(fastjet.sorted_by_pt(jet.constituents())[:200]):
            row.update({f"E_{i}": c.e(), f"PX_{i}": c.px(), f"PY_{i}": c.py(), f"PZ_{i}": c.pz()})
        rows.append(row)
        jet_pts.append(jet.pt())
    frame = pd.DataFrame(rows).fillna(0.0).astype(np.float32)
    frame["is_signal_new"] = 0
    path = tmp_path / "independent.h5"
    frame.to_hdf(path, key="table", format="table")

    jets, labels = read_jets(path, n_constituents=8)
    assert jets.shape == (5, 8, 4) and (labels == 0).all()
    np.testing.assert_array_equal(jets[:, 3, 1], frame["PX_3"].to_numpy())
    np.testing.assert_array_equal(jets[:, 0, 0], frame["E_0"].to_numpy())
    all_jets, _ = read_jets(path)
    np.testing.assert_allclose(kinematics(all_jets)[0], jet_pts, rtol=1e-5)


def test_pythia_seeds_are_distinct_and_reproducible():
    seeds = pythia_seeds(3, 1000)
    assert len(set(seeds)) == 1000 and seeds == pythia_seeds(3, 1000)
    assert min(seeds) >= 1 and max(seeds) <= 900_000_000
    assert pythia_seeds(4, 10) != seeds[:10]


def test_unknown_process_lists_the_choices(tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown process 'ttbar'.*\['gluon', 'qcd', 'quark', 'top', 'w', 'z'\]"
    ):
        simulate("ttbar", 10, tmp_path / "x.h5")


def test_custom_process_needs_settings(tmp_path):
    with pytest.raises(ValueError, match="process 'custom' needs Pythia settings"):
        simulate("custom", 10, tmp_path / "x.h5")


@pytest.mark.slow
def test_settings_without_jets_in_the_window_stop(tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_module, "MAX_EVENTS_WITHOUT_JET", 200)
    low = ("PhaseSpace:pTHatMin = 20.", "PhaseSpace:pTHatMax = 40.")
    with pytest.raises(RuntimeError, match="no jet passed the selection .* in 200 events"):
        simulate("qcd", 5, tmp_path / "x.h5", settings=low, progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_rejected_pythia_setting_is_named(tmp_path):
    with pytest.raises(ValueError, match="Pythia rejected the setting 'HardQCD:al = on'"):
        simulate("qcd", 10, tmp_path / "x.h5", settings=("HardQCD:al = on",), progress=False)


@pytest.mark.slow
def test_a_killed_run_resumes_and_writes_the_same_file_as_a_clean_run(tmp_path):
    """SIGKILL a real `grapa simulate` once its first chunk is saved; rerun; compare."""
    import signal
    import subprocess
    import sys
    import time

    from grapa.data.simulate import JETS_PER_CHUNK

    n_jets = 3 * JETS_PER_CHUNK
    out = tmp_path / "killed.h5"
    command = [sys.executable, "-c", "import grapa_cli, sys; sys.exit(grapa_cli.main())",
               "simulate", "--process", "qcd", "--jets", str(n_jets), "--out", str(out),
               "--seed", "5", "--constituents", "20"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "killed.h5.chunks" / "chunk_00000.npy"
    deadline = time.monotonic() + 300
    while not first.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert first.exists() and not out.exists(), "the run was not killed midway"
    kept = len(list(first.parent.glob("chunk_*.npy")))
    assert 1 <= kept < 3

    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming, {kept} of 3 chunks" in result.stderr
    assert not first.parent.exists()  # the chunks are removed once the file is whole
    clean = simulate("qcd", n_jets, tmp_path / "clean.h5", seed=5, n_constituents=20,
                     progress=False)
    resumed_jets, resumed_labels = read_jets(out)
    clean_jets, clean_labels = read_jets(clean)
    np.testing.assert_array_equal(resumed_jets, clean_jets)
    np.testing.assert_array_equal(resumed_labels, clean_labels)


@pytest.mark.slow
def test_chunks_of_a_run_with_other_arguments_are_not_reused(tmp_path):
    out = tmp_path / "jets.h5"
    simulate("qcd", 10, tmp_path / "reference.h5", seed=3, n_constituents=8, progress=False)
    folder = tmp_path / "jets.h5.chunks"
    folder.mkdir()
    (folder / "run.json").write_text('{"plan": [], "label": 0}')  # another run's leftovers
    np.save(folder / "chunk_00000.npy", np.ones((10, 8, 4), "float32"))
    simulate("qcd", 10, out, seed=3, n_constituents=8, progress=False)
    np.testing.assert_array_equal(read_jets(out)[0], read_jets(tmp_path / "reference.h5")[0])
