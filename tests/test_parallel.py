"""grapa.parallel: the same results in this process and in spawned processes; worker settings."""

import pytest

from grapa.parallel import map_tasks, worker_env


def _power(base, exponent):
    return base**exponent


def test_map_tasks_passes_shared_arguments_first_and_keeps_the_task_order():
    assert map_tasks(_power, [3, 1, 2], shared=(2,)) == [8, 2, 4]
    assert map_tasks(_power, [3, 1, 2], shared=(2,), workers=2) == [8, 2, 4]
    with pytest.raises(ValueError, match="workers .* or ray .*, not both"):
        map_tasks(_power, [1], shared=(2,), workers=2, ray=True)


def test_workers_use_this_process_backend_and_one_thread(monkeypatch):
    import keras

    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    env = worker_env(threads=1)
    assert env["KERAS_BACKEND"] == keras.backend.backend()
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"
    assert worker_env(threads=2)["TF_NUM_INTRAOP_THREADS"] == "2"
    assert "XLA_FLAGS" not in worker_env(threads=2)
    assert not {"OMP_NUM_THREADS", "XLA_FLAGS"} & set(worker_env(threads=None))
