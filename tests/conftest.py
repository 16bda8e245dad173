"""Shared fixtures: small jets with padding, built with numpy."""

import os
import shutil
import tempfile

import numpy as np
import pytest

# JAX's persistent compilation cache for the example and tutorial scripts, on for every
# compilation (JAX keeps only those over a second by default)
JAX_CACHE = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def pytest_configure(config):
    """One folder for this session's JAX compilation cache (`script_env`), made by the
    controller; the pytest-xdist workers inherit its name through the environment."""
    if hasattr(config, "workerinput") or "GRAPA_TESTS_JAX_CACHE" in os.environ:
        return
    folder = tempfile.mkdtemp(prefix="grapa-tests-jax-cache-")
    config._grapa_jax_cache = folder
    os.environ["GRAPA_TESTS_JAX_CACHE"] = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_grapa_jax_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("GRAPA_TESTS_JAX_CACHE", None)


@pytest.fixture
def script_env():
    """The environment of an example or tutorial script: this one without KERAS_BACKEND
    (the scripts choose JAX), with JAX's compilation cache shared by every script of the
    session. Most of a `--quick` script's time is XLA compiling the training steps that
    the scripts before it compiled too (oneoff_invertibility: 55 of its 80 s); the cache
    hands back the same programs, so no result changes. In-process tests leave it off:
    for their many small programs it costs more than it saves. A caller's own
    `JAX_COMPILATION_CACHE_DIR` is kept."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if "JAX_COMPILATION_CACHE_DIR" not in env and "GRAPA_TESTS_JAX_CACHE" in env:
        env.update(JAX_CACHE, JAX_COMPILATION_CACHE_DIR=env["GRAPA_TESTS_JAX_CACHE"])
    return env


# module fixtures that train or fit for tens of seconds: each pytest-xdist worker that
# runs one of their tests builds its own copy, so their tests share a worker (the scan's
# Ray test with the other Ray tests)
SHARED_FIXTURES = {"grid_scan": "ray", "fitted": "density", "report": "report",
                   "two_files": "cluster-report"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """Tests that start a local Ray instance share one pytest-xdist worker (the suite runs
    on 2 workers, `--dist loadgroup`): two Ray instances at once would share 2 cores.
    Tests of one costly module fixture share one too (`SHARED_FIXTURES`)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "local_ray" in names:
            item.add_marker(pytest.mark.xdist_group("ray"))
            continue
        for fixture, group in SHARED_FIXTURES.items():
            if fixture in names:
                item.add_marker(pytest.mark.xdist_group(group))
                break


def make_jets(n_jets=3, n_nodes=8, n_real=(8, 6, 3), seed=0):
    """Physical-looking jets (E, px, py, pz) around a random axis, zero padded."""
    rng = np.random.default_rng(seed)
    jets = np.zeros((n_jets, n_nodes, 4), dtype="float32")
    for j in range(n_jets):
        m = n_real[j % len(n_real)]
        pt = np.sort(rng.exponential(50.0, size=m))[::-1] + 1.0
        eta = rng.normal(0.3 * j, 0.3, size=m)
        phi = rng.normal(-2.5 + j, 0.3, size=m)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        jets[j, :m] = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], axis=-1)
    return jets


@pytest.fixture
def jets():
    return make_jets()


@pytest.fixture
def node_features():
    """(3, 8, 5) random node features, last nodes of jets 1 and 2 padding."""
    x = np.random.default_rng(7).normal(size=(3, 8, 5)).astype("float32")
    x[1, 6:] = 0
    x[2, 3:] = 0
    return x


def random_adjacency(x, seed=0, weighted=False):
    """A random directed graph between the real nodes of x (all-zero nodes get no edges)."""
    rng = np.random.default_rng(seed)
    real = np.any(x != 0, axis=-1)
    n = x.shape[1]
    a = (rng.random((x.shape[0], n, n)) < 0.5).astype("float32")
    if weighted:
        a *= rng.uniform(0.2, 2.0, size=a.shape).astype("float32")
    a[:, np.arange(n), np.arange(n)] = 1.0
    return a * real[:, :, None] * real[:, None, :]


@pytest.fixture
def adjacency(node_features):
    return random_adjacency(node_features)


@pytest.fixture(scope="session")
def sample_jets():
    """(qcd, top) raw jets, 30 constituents, from the sample bundled with grapa."""
    from grapa.data import read_jets, sample_path

    jets, labels = read_jets(sample_path(), n_constituents=30)
    return jets[labels == 0], jets[labels == 1]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance started as grapa starts it, once per test module."""
    ray = pytest.importorskip("ray")
    from grapa.parallel import start_ray

    start_ray("local")
    yield ray
    ray.shutdown()
