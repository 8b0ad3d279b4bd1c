"""cgrad: train small multi-layer perceptrons fast on a multi-core CPU.

The training core (matrix kernels, activations, losses, optimizer updates and the
training loop) is compiled Cython + OpenMP in ``cgrad._core``; this package is the thin
Python API over it.  ``cgrad.reference`` is the plain-NumPy truth every kernel is tested
against, and ``cgrad.ops`` the validated functional API with the same names.
"""
__version__ = "0.1.0"

try:
    from . import _core  # noqa: F401
except ImportError as exc:  # sklearn's __check_build idea: say what went wrong
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    raise ImportError(
        f"cgrad's compiled core (cgrad._core) could not be imported from {_here}: {exc}.\n"
        "If this is the source tree, it has no compiled modules: install the package "
        "(pip install .) and run from outside the source folder, or use plain `pytest` "
        "(not `python -m pytest`, which puts the source tree first on sys.path)."
    ) from exc

from . import ops, reference  # noqa: E402,F401
from ._config import get_num_threads, set_num_threads, show_config, openmp_enabled  # noqa: E402
from . import callbacks, datasets, losses, metrics, nn, optim, schedules  # noqa: E402,F401
from .model import MLP, Sequential, load  # noqa: E402
from .onnx import export_onnx  # noqa: E402  (imports the onnx package only when called)

__all__ = ["__version__", "MLP", "Sequential", "load", "export_onnx", "nn", "get_num_threads", "set_num_threads", "show_config",
           "openmp_enabled", "ops", "reference", "optim", "losses", "callbacks", "datasets",
           "metrics", "schedules"]
