"""Tests of grapa.data.toptagging: schema, validation, streaming, the shipped sample."""

import pickle

import numpy as np
import pandas as pd
import pytest

from grapa.data import (
    JetDataError,
    JetSequence,
    count_empty_jets,
    describe_jets,
    jet_observables,
    read_jets,
    sample_path,
    toptagging,
    write_jets,
)


def random_jets(n_jets, n_constituents, seed=0):
    """Massless constituents around a jet axis, sorted by pT, with zero padding."""
    rng = np.random.default_rng(seed)
    pt = rng.exponential(20.0, (n_jets, n_constituents)) + 0.5
    pt = -np.sort(-pt, axis=1)
    eta = rng.normal(0.0, 0.3, (n_jets, n_constituents)) + rng.uniform(-1.5, 1.5, (n_jets, 1))
    phi = rng.normal(0.0, 0.3, (n_jets, n_constituents)) + rng.uniform(-np.pi, np.pi, (n_jets, 1))
    jets = np.stack(
        [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1
    )
    multiplicity = rng.integers(1, n_constituents + 1, n_jets)
    jets[np.arange(n_constituents) >= multiplicity[:, None]] = 0.0
    return jets.astype(np.float32)


def schema_frame(jets, labels=None):
    """The top-tagging columns built by hand with pandas (independent of write_jets)."""
    columns = {}
    for i in range(jets.shape[1]):
        for j, name in enumerate(["E", "PX", "PY", "PZ"]):
            columns[f"{name}_{i}"] = jets[:, i, j]
    frame = pd.DataFrame(columns)
    if labels is not None:
        frame["is_signal_new"] = labels
    return frame


@pytest.fixture
def jets():
    return random_jets(57, 6, seed=1)


@pytest.fixture
def labels(jets):
    return np.arange(len(jets)) % 2


@pytest.mark.parametrize("store_format", ["fixed", "table"])
def test_write_read_round_trip(tmp_path, jets, labels, store_format):
    path = write_jets(tmp_path / "jets.h5", jets, labels, format=store_format)
    frame = pd.read_hdf(path, key="table")
    expected_columns = [f"{n}_{i}" for i in range(6) for n in ("E", "PX", "PY", "PZ")]
    assert list(frame.columns) == expected_columns + ["is_signal_new"]
    assert (frame.dtypes[:-1] == np.float32).all()
    np.testing.assert_array_equal(frame["PY_2"].to_numpy(), jets[:, 2, 2])
    read, read_labels = read_jets(path)
    np.testing.assert_array_equal(read, jets)
    np.testing.assert_array_equal(read_labels, labels)
    assert read.dtype == np.float32 and read.shape == (57, 6, 4)


@pytest.mark.parametrize("store_format", ["fixed", "table"])
def test_reads_pandas_file_with_extra_columns_in_any_order(tmp_path, jets, labels, store_format):
    frame = schema_frame(jets, labels)
    frame["truthE"] = 1.0
    frame["ttv"] = 0
    frame = frame[np.random.default_rng(0).permutation(frame.columns)]
    path = tmp_path / "pandas.h5"
    frame.to_hdf(path, key="table", format=store_format)
    read, read_labels = read_jets(path, n_constituents=4, start=10, stop=30)
    np.testing.assert_array_equal(read, jets[10:30, :4])
    np.testing.assert_array_equal(read_labels, labels[10:30])


def test_pads_with_zeros_when_the_file_holds_fewer(tmp_path, jets):
    path = write_jets(tmp_path / "jets.h5", jets)
    read, labels = read_jets(path, n_constituents=9)
    assert labels is None
    np.testing.assert_array_equal(read[:, :6], jets)
    assert not read[:, 6:].any()


def test_start_stop_follow_slice_semantics(tmp_path, jets):
    path = write_jets(tmp_path / "jets.h5", jets)
    np.testing.assert_array_equal(read_jets(path, start=-5)[0], jets[-5:])
    np.testing.assert_array_equal(read_jets(path, stop=3)[0], jets[:3])
    assert read_jets(path, start=40, stop=40)[0].shape == (0, 6, 4)


def test_chunked_reading_joins_chunks(tmp_path, jets, labels, monkeypatch):
    monkeypatch.setattr(toptagging, "READ_CHUNK_ROWS", 7)
    path = write_jets(tmp_path / "jets.h5", jets, labels, format="fixed")
    read, read_labels = read_jets(path, start=3, stop=52)
    np.testing.assert_array_equal(read, jets[3:52])
    np.testing.assert_array_equal(read_labels, labels[3:52])


def test_all_zero_jets_are_kept_and_counted(tmp_path, jets, labels):
    jets[[4, 9]] = 0.0
    path = write_jets(tmp_path / "jets.h5", jets, labels)
    read, read_labels = read_jets(path)
    assert len(read) == len(jets) and read_labels[9] == labels[9]
    assert count_empty_jets(read) == 2
    assert describe_jets(path)["n_empty"] == 2


def test_jet_observables_closed_form():
    # (5, 3, 4, 0) + (5, -3, 4, 0) = (10, 0, 8, 0): pT 8, mass sqrt(100 - 64) = 6, eta 0
    jets = np.array([[[5, 3, 4, 0], [5, -3, 4, 0], [0, 0, 0, 0]]], np.float32)
    observables = jet_observables(jets)
    np.testing.assert_allclose(observables["pt"], [8.0])
    np.testing.assert_allclose(observables["mass"], [6.0])
    np.testing.assert_allclose(observables["eta"], [0.0])
    np.testing.assert_array_equal(observables["multiplicity"], [2])


def test_describe_jets_counts_and_quantiles(tmp_path):
    jets = np.zeros((4, 3, 4), np.float32)
    jets[0, :2] = [[5, 3, 4, 0], [5, -3, 4, 0]]  # mass 6, pT 8
    jets[1, 0] = [10, 6, 8, 0]  # massless, pT 10
    jets[2, :2] = [[1, 1, 0, 0], [5, 3, 4, 0]]  # pT 1 before pT 5: unsorted
    path = write_jets(tmp_path / "jets.h5", jets, [0, 1, 1, 1])
    summary = describe_jets(path)
    assert summary["n_jets"] == 4 and summary["n_signal"] == 3
    assert summary["n_empty"] == 1 and summary["n_unsorted"] == 1
    quantiles = summary["quantiles"]
    assert quantiles.loc[("QCD (0)", "mass [GeV]"), "50%"] == pytest.approx(6.0)
    assert quantiles.loc[("QCD (0)", "pT [GeV]"), "max"] == pytest.approx(8.0)
    assert quantiles.loc[("all", "multiplicity"), "max"] == 2


# --- validation: every error names the problem and the fix -------------------------


def test_missing_file_names_path_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no jet file at .*nope.h5.*grapa simulate"):
        read_jets(tmp_path / "nope.h5")


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "jets.h5"
    path.write_text("E_0,PX_0\n1,2\n")
    with pytest.raises(JetDataError, match="not a pandas HDF5 store"):
        read_jets(path)


def test_truncated_file_gets_one_line_not_hdf5s_back_trace(tmp_path, jets):
    whole = write_jets(tmp_path / "whole.h5", np.tile(jets, (200, 1, 1)))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[:20_000])
    with pytest.raises(JetDataError) as caught:
        read_jets(cut)
    message = str(caught.value)
    assert "truncated file" in message and "cut short" in message
    assert "\n" not in message and "H5F" not in message


def test_missing_key_lists_the_keys(tmp_path, jets):
    path = write_jets(tmp_path / "jets.h5", jets, key="train")
    with pytest.raises(JetDataError, match=r"key 'table' not found.*\['train'\].*key="):
        read_jets(path)
    assert read_jets(path, key="train")[0].shape == jets.shape


def test_missing_column_names_it_and_suggests_n_constituents(tmp_path, jets):
    path = tmp_path / "qcd.h5"
    schema_frame(jets).drop(columns=["PX_3"]).to_hdf(path, key="table", format="table")
    with pytest.raises(
        JetDataError, match="column PX_3 missing in qcd.h5 key 'table'.*n_constituents=3"
    ):
        read_jets(path)
    # the missing column is not needed for the first 3 constituents
    np.testing.assert_array_equal(read_jets(path, n_constituents=3)[0], jets[:, :3])


def test_misnamed_column_is_pointed_out(tmp_path, jets):
    path = tmp_path / "jets.h5"
    schema_frame(jets).rename(columns={"PY_2": "Py_2"}).to_hdf(path, key="table")
    with pytest.raises(JetDataError, match="PY_2 missing.*'Py_2' meant to be 'PY_2'"):
        read_jets(path)


def test_lower_case_columns_get_a_rename_hint(tmp_path, jets):
    path = tmp_path / "jets.h5"
    schema_frame(jets).rename(columns=str.lower).to_hdf(path, key="table")
    with pytest.raises(JetDataError, match="upper case.*rename"):
        read_jets(path)


def test_no_constituent_columns(tmp_path):
    path = tmp_path / "jets.h5"
    pd.DataFrame({"pt": [1.0], "eta": [0.0]}).to_hdf(path, key="table")
    with pytest.raises(JetDataError, match="no constituent columns.*E_i, PX_i, PY_i, PZ_i"):
        read_jets(path)


def test_non_numeric_column(tmp_path, jets):
    frame = schema_frame(jets)
    frame["E_1"] = frame["E_1"].astype(str)
    path = tmp_path / "jets.h5"
    frame.to_hdf(path, key="table", format="fixed")
    with pytest.raises(JetDataError, match="column E_1 .* expected numbers.*to_numeric"):
        read_jets(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("store_format", ["fixed", "table"])
def test_nan_and_inf_name_row_and_column(tmp_path, jets, bad_value, store_format):
    frame = schema_frame(jets)
    frame.loc[17, "PZ_2"] = bad_value
    path = tmp_path / "jets.h5"
    frame.to_hdf(path, key="table", format=store_format)
    with pytest.raises(JetDataError, match="1 NaN or infinite.*row 17 column PZ_2.*drop or repair"):
        read_jets(path)
    assert read_jets(path, stop=17)[0].shape == (17, 6, 4)


def test_values_beyond_float32_are_infinite(tmp_path, jets):
    frame = schema_frame(jets).astype(np.float64)
    frame.loc[3, "E_0"] = 1e300
    path = tmp_path / "jets.h5"
    frame.to_hdf(path, key="table")
    with pytest.raises(JetDataError, match="row 3 column E_0"):
        read_jets(path)


def test_negative_energy_names_row_and_column(tmp_path, jets):
    frame = schema_frame(jets)
    frame.loc[5, "E_0"] = -3.0
    path = tmp_path / "jets.h5"
    frame.to_hdf(path, key="table")
    with pytest.raises(JetDataError, match=r"negative energies.*row 5 column E_0 \(-3 GeV\)"):
        read_jets(path)


def test_n_constituents_below_one(tmp_path, jets):
    path = write_jets(tmp_path / "jets.h5", jets)
    with pytest.raises(ValueError, match="n_constituents must be >= 1, got 0"):
        read_jets(path, n_constituents=0)
    with pytest.raises(ValueError, match="n_constituents must be >= 1"):
        JetSequence(path, n_constituents=-1)


def test_non_integer_labels(tmp_path, jets):
    path = tmp_path / "jets.h5"
    schema_frame(jets, np.full(len(jets), 0.5)).to_hdf(path, key="table")
    with pytest.raises(JetDataError, match="is_signal_new .* 0.5 in row 0, expected integers"):
        read_jets(path)


def test_misnamed_label_column_warns(tmp_path, jets):
    path = tmp_path / "jets.h5"
    schema_frame(jets).assign(is_signal=1).to_hdf(path, key="table")
    with pytest.warns(UserWarning, match="no column 'is_signal_new' but has 'is_signal'"):
        _, labels = read_jets(path)
    assert labels is None


# --- streaming ---------------------------------------------------------------------


@pytest.fixture
def numbered_file(tmp_path):
    """1037 jets whose first constituent energy is the row number + 1 (an id)."""
    jets = random_jets(1037, 5, seed=2)
    jets[:, 0, 0] = np.arange(1, 1038)
    return write_jets(tmp_path / "numbered.h5", jets, np.arange(1037) % 3), jets


def epoch_ids(sequence):
    return np.concatenate([sequence[i][0][:, 0, 0] for i in range(len(sequence))])


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_jet_once_per_epoch(numbered_file, shuffle):
    path, jets = numbered_file
    sequence = JetSequence(path, n_constituents=5, batch_size=50, buffer_size=220, shuffle=shuffle)
    # blocks of 200 jets: 5 full blocks of 4 batches, then 37 jets in one batch
    assert len(sequence) == 21
    epochs = []
    for _ in range(3):
        ids = epoch_ids(sequence)
        np.testing.assert_array_equal(np.sort(ids), np.arange(1, 1038))
        epochs.append(ids)
        sequence.on_epoch_end()
    if shuffle:
        assert not np.array_equal(epochs[0], epochs[1])
        assert not np.array_equal(epochs[0], np.sort(epochs[0]))
    else:
        np.testing.assert_array_equal(epochs[0], np.arange(1, 1038))


def test_shuffling_stays_within_a_buffer(numbered_file):
    path, _ = numbered_file
    sequence = JetSequence(path, n_constituents=5, batch_size=50, buffer_size=200, seed=3)
    ids = epoch_ids(sequence)
    blocks = (ids[:1000].reshape(5, 200) - 1) // 200  # which file block each jet came from
    assert (blocks == blocks[:, :1]).all()


def test_reads_one_block_at_a_time(numbered_file, monkeypatch):
    path, _ = numbered_file
    reads = []
    read_rows = toptagging._read_rows

    def recording_read_rows(layout, start, stop, n_constituents):
        reads.append(stop - start)
        return read_rows(layout, start, stop, n_constituents)

    monkeypatch.setattr(toptagging, "_read_rows", recording_read_rows)
    sequence = JetSequence(path, n_constituents=5, batch_size=50, buffer_size=200)
    epoch_ids(sequence)
    assert sorted(reads) == [37, 200, 200, 200, 200, 200]


def test_targets_and_labels_stay_aligned(numbered_file):
    path, jets = numbered_file
    labelled = JetSequence(path, n_constituents=3, batch_size=64, targets="labels")
    x, y = labelled[2]
    np.testing.assert_array_equal(y, (x[:, 0, 0].astype(int) - 1) % 3)
    assert x.shape == (64, 3, 4)
    x, target = JetSequence(path, n_constituents=3, targets="jets")[0]
    assert target is x
    assert len(JetSequence(path, n_constituents=3, targets=None)[0]) == 1


def test_start_stop_and_padding_in_sequence(numbered_file):
    path, jets = numbered_file
    sequence = JetSequence(
        path, n_constituents=7, batch_size=10, start=100, stop=125, shuffle=False
    )
    x = np.concatenate([sequence[i][0] for i in range(len(sequence))])
    np.testing.assert_array_equal(x[:, :5], jets[100:125])
    assert not x[:, 5:].any() and len(sequence) == 3


def test_random_batch_order_warns(numbered_file):
    path, _ = numbered_file
    sequence = JetSequence(path, n_constituents=5, batch_size=10, buffer_size=100)
    with pytest.warns(RuntimeWarning, match="shuffle=False to model.fit"):
        for index in np.random.default_rng(0).permutation(len(sequence)):
            sequence[index]


def test_sequence_pickles(numbered_file):
    path, _ = numbered_file
    sequence = JetSequence(path, n_constituents=5, batch_size=10)
    copy = pickle.loads(pickle.dumps(sequence))
    np.testing.assert_array_equal(copy[3][0], sequence[3][0])


def test_labels_target_needs_labels(tmp_path, jets):
    path = write_jets(tmp_path / "jets.h5", jets)
    with pytest.raises(JetDataError, match="no column 'is_signal_new'"):
        JetSequence(path, n_constituents=2, targets="labels")


def test_sequence_feeds_model_fit(numbered_file):
    import keras

    path, _ = numbered_file
    sequence = JetSequence(path, n_constituents=5, batch_size=100, targets="labels")
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(sequence, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
    assert sequence.epoch >= 2  # a new shuffle each epoch (Keras may call on_epoch_end once more)


# --- the shipped sample --------------------------------------------------------------


def test_sample_is_small_and_sane():
    path = sample_path()
    assert path.is_file() and path.stat().st_size <= 5_000_000
    jets, labels = read_jets(path)
    assert jets.shape == (11_200, 30, 4)
    assert (labels == 1).sum() == 2_800 and (labels == 0).sum() == 8_400
    energy, px, py, pz = jets.sum(axis=1, dtype=np.float64).T
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0))
    # sums over the 30 leading constituents only: a little below the full jets'
    assert np.hypot(px, py).max() <= 650.01
    assert np.median(np.hypot(px, py)) == pytest.approx(555, abs=20)
    assert 120 < np.median(mass[labels == 1]) < 180
    assert np.median(mass[labels == 0]) < np.median(mass[labels == 1]) - 50


# --- grapa inspect -------------------------------------------------------------------


def test_cli_inspect_prints_counts_and_quantiles(capsys, monkeypatch):
    from grapa.cli import main

    monkeypatch.delenv("KERAS_BACKEND", raising=False)  # main() sets it; restored after
    assert main(["inspect", str(sample_path())]) == 0
    out = capsys.readouterr().out
    assert "11200 jets, 30 constituent slots" in out
    assert "signal (is_signal_new = 1): 2800 jets, 25.0%" in out
    assert "all-zero jets: 0" in out
    for row in ["QCD (0)", "top (1)", "mass [GeV]", "pT [GeV]", "multiplicity"]:
        assert row in out


def test_cli_inspect_reports_bad_files_without_traceback(tmp_path, capsys, monkeypatch):
    from grapa.cli import main

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    frame = schema_frame(random_jets(5, 2))
    frame.loc[2, "E_1"] = np.nan
    frame.to_hdf(tmp_path / "bad.h5", key="table")
    assert main(["inspect", str(tmp_path / "bad.h5")]) == 2
    assert "grapa inspect: error: 1 NaN or infinite values" in capsys.readouterr().err
