"""Validated functional access to the compiled kernels, one function per reference one.

``cgrad.ops.NAME`` computes what ``cgrad.reference.NAME`` computes, with the same
arguments, plus optional ``out=`` buffers and ``n_threads=``.  Bad input raises a
ValueError/TypeError naming the argument before any work starts.
"""
from .activations import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .regularization import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
