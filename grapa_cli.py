"""Launcher of the ``grapa`` command.

It lives outside the ``grapa`` package on purpose: ``import grapa`` imports Keras (so
that saved models find grapa's layers), and Keras fixes its backend on import. This
module picks JAX, grapa's default for the command line (about 5x faster than TensorFlow
on a CPU), before anything imports Keras, unless the user set ``KERAS_BACKEND``.
"""

import os
import sys


def import_tensorflow_quietly():
    """Import TensorFlow, if installed, with the process's C-level stderr closed.

    Keras imports TensorFlow even on JAX (`keras.utils.set_random_seed` seeds it too),
    and TensorFlow's C++ logger prints lines at load time ("Could not find cuda
    drivers", CPU features, oneDNN) before it reads any setting: absl writes them to
    file descriptor 2 before it is initialized, so `TF_CPP_MIN_LOG_LEVEL` cannot stop
    them. Python's own errors from the import still reach the user: the exception is
    raised after stderr is restored.
    """
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


_NO_KERAS_WORK = {"--version", "-h", "--help"}


def main(argv=None):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    # ... and the lines it logs after load too: on a machine without a GPU even its
    # errors are only that (cuInit); a real failure reaches Python as an exception.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and not _NO_KERAS_WORK & set(arguments):
        import_tensorflow_quietly()
    from grapa.cli import main as grapa_main

    return grapa_main(argv)


if __name__ == "__main__":
    sys.exit(main())
