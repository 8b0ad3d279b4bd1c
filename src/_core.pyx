# cython: language_level=3, freethreading_compatible=False
"""cgrad._core: the compiled training core (one extension module).

Each concern lives in its own .pxi (included below) so kernels can call each other as
plain `noexcept nogil` C functions -- the fused training loop (train.pxi) runs whole
chunks of mini-batches without the GIL by calling them directly.

Shapes: N = batch rows, IN / OUT = features.  Row-major, C-contiguous everywhere.
Parameter gradients accumulate (+=); activation gradients are overwritten (=).
Threads split outputs, never a sum: results are bitwise identical for any thread count.
Python-visible entry points check shapes (never crash on bad input); the friendly,
argument-naming validation lives one level up in cgrad/ops/.
"""
include "common.pxi"
include "vmath.pxi"
include "config.pxi"
include "activations.pxi"
include "losses.pxi"
include "regularization.pxi"
include "optim.pxi"
include "dense.pxi"
include "norm.pxi"
include "sparse.pxi"
include "layers.pxi"
include "train.pxi"
