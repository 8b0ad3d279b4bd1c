"""The plain-NumPy reference of every compiled kernel: the truth the tests check against.

Same function names as cgrad.ops (and the kernels in src/); functional (returns new
arrays).  Checked itself by central finite differences in float64 (tests/).
"""
from .activations import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .regularization import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
