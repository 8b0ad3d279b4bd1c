"""One runner per implementation compared (see :class:`base.Runner`)."""
from .base import Runner, metrics
from .cgrad_runner import CgradRunner
from .jax_runner import JaxRunner, JaxScanRunner
from .numpy_runner import NumpyMLP, NumpyRunner
from .sklearn_runner import SklearnRunner
from .torch_runner import TorchRunner

__all__ = ["RUNNERS", "IMPLS", "REQUIRES", "Runner", "NumpyMLP", "metrics"]

RUNNERS = {"cgrad": CgradRunner, "cgrad-dense": CgradRunner,
           "numpy": NumpyRunner, "numpy-noftz": NumpyRunner,
           "torch": TorchRunner, "jax-step": JaxRunner, "jax-scan": JaxScanRunner,
           "sklearn": SklearnRunner}
IMPLS = list(RUNNERS)
# impl -> the packages its runner imports: a missing one skips its cells with a note
REQUIRES = {impl: cls.requires for impl, cls in RUNNERS.items()}
