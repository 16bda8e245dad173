"""Many independent models at once: in this process, in spawned processes, or on Ray.

`map_tasks` is the one way grapa fans work out (cross-table rows and their seed repeats;
`grapa.scan` hands its trials to Ray Tune through `start_ray`). It imports nothing of
grapa, so every layer may use it.

Ray is optional (`pip install "grapa-keras[ray]"`). `ray=True` (or `"local"`) starts a
local Ray instance in this process, on all of the machine's cores, without dashboard and
with quiet logs; a cluster address (`"auto"`, `"ray://head:10001"`, ...) connects to a
running cluster, whose nodes must have grapa installed. A Ray instance this process
already started (`ray.init(...)` by hand) is used as it is.

Each Ray task reserves one CPU and its worker computes on one thread (XLA, TensorFlow,
OpenMP): on a machine of n cores, n models train side by side instead of one model
spreading its small matrices over n threads. A one-threaded sum adds in another order,
so results agree with an in-process run to about 1e-6; `start_ray(threads=None)` keeps
the libraries' threading and reproduces them bit for bit. Spawned processes (`workers`)
share the cores out the same way. Workers use the Keras backend of this process.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from functools import partial

INSTALL_RAY = 'pip install "grapa-keras[ray]"'

# XLA (JAX) computes on one thread with this flag (an unknown XLA flag is fatal).
_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


class RayNotInstalledError(ImportError):
    """Ray was asked for but is not installed; the message says how to install it."""


def import_ray(instead: str = "ray=None"):
    """The `ray` module, or a `RayNotInstalledError` naming the install command.

    Args:
        instead: how to run without Ray, in the caller's words (the CLI says
            "run without --ray").
    """
    try:
        import ray
    except ImportError as error:
        raise RayNotInstalledError(
            f"Ray is not installed: install it with {INSTALL_RAY}, or {instead} to compute "
            "in this process."
        ) from error
    return ray


def worker_env(threads: int | None = 1) -> dict[str, str]:
    """Environment of a worker process: this process's Keras backend, `threads` threads.

    Args:
        threads: threads each worker computes on (XLA, TensorFlow, OpenMP); None leaves
            the libraries' defaults (every core).

    Returns:
        `{name: value}` environment variables.
    """
    if "keras" in sys.modules:  # the backend this process really uses, keras.json included
        backend = sys.modules["keras"].backend.backend()
    else:
        backend = os.environ.get("KERAS_BACKEND", "")
    env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    if backend:
        env["KERAS_BACKEND"] = backend
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
                   TF_NUM_INTEROP_THREADS=str(threads))
    if threads == 1:  # XLA's CPU client has no thread-count flag, only this switch
        env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_ONE_THREAD}".strip()
    return env


def start_ray(address=True, instead: str = "ray=None", threads: int | None = 1):
    """Connect this process to Ray: a new local instance, or the cluster at `address`.

    Nothing happens when Ray is already initialized in this process. A local instance
    uses all of the machine's cores (`os.cpu_count()`), no dashboard, and keeps the
    workers' logs out of this process's output; it stops when this process ends (or at
    `ray.shutdown()`).

    Args:
        address: True or `"local"` for a local instance; otherwise a cluster address as
            `ray.init(address=...)` takes it (`"auto"`, `"ray://head:10001"`, ...).
        instead: how to run without Ray, for the error when Ray is not installed.
        threads: threads each worker computes on (`worker_env`).

    Returns:
        the `ray` module, initialized.
    """
    ray = import_ray(instead)
    if ray.is_initialized():
        return ray
    options = dict(logging_level=logging.ERROR, log_to_driver=False,
                   runtime_env={"env_vars": worker_env(threads)})
    with warnings.catch_warnings():
        # JAX warns at every fork; Ray forks only to exec its own processes.
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        if address is True or address == "local":
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    return ray


def map_tasks(function, tasks, *, shared=(), workers: int = 1, ray=None) -> list:
    """`[function(*shared, task) for task in tasks]`, computed here, in processes or on Ray.

    The results come back in the order of `tasks`, whichever finished first.

    Args:
        function: a picklable (top-level) function.
        tasks: one argument per call.
        shared: arguments every call takes first (e.g. the datasets); Ray stores them
            once in its object store, processes receive a copy per task.
        workers: with more than 1, that many spawned processes share the tasks.
        ray: None or False to compute without Ray; True or `"local"` for a local Ray
            instance (see `start_ray`); a cluster address to run on that cluster. Each
            task is one Ray task of one CPU.

    Returns:
        the list of results.
    """
    tasks = list(tasks)
    if ray and workers > 1:
        raise ValueError(f"pass workers (got {workers}) or ray (got {ray!r}), not both.")
    if ray:
        ray_module = start_ray(ray)
        remote = ray_module.remote(num_cpus=1)(function)
        stored = [ray_module.put(argument) for argument in shared]
        return ray_module.get([remote.remote(*stored, task) for task in tasks])
    if workers > 1 and len(tasks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        workers = min(workers, len(tasks))
        # "spawn": a forked JAX or TensorFlow runtime is not safe to use in the child.
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_set_environment,
                                 initargs=(worker_env(threads),)) as pool:
            return list(pool.map(partial(function, *shared), tasks))
    return [function(*shared, task) for task in tasks]


def _set_environment(env):
    """A spawned worker's first act: `worker_env`'s variables, before any model runs."""
    os.environ.update(env)
