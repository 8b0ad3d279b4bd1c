"""
Gradient descent on the linear-regression cost
==============================================

Fitting a line ``y = w0 + w1 x`` by least squares means minimising a convex bowl
J(w0, w1) over the two parameters. Gradient descent steps against the gradient (the
arrows below are the negative-gradient field): it drops quickly into the narrow valley,
then crawls along it, because w0 and w1 are coupled (the inputs are not centred);
momentum overshoots across the valley but moves along it faster.
"""
import numpy as np

import cgrad.plot
from cgrad.compare_optimizers import compare_on_surface

# %%
# Plain gradient descent (cgrad's SGD on the exact gradient of the full data set) and the
# same with momentum, 100 steps each from the same start.
surface, results, _ = compare_on_surface("linear", names=["sgd", "momentum"], steps=100)
best = np.array(surface.minimizers[0])
for r in results:
    print(f"{r.label:13s} final J = {r.losses[-1]:.6f} (minimum {surface.minimum:.6f}), "
          f"distance to the least-squares solution {np.linalg.norm(r.path[-1] - best):.2e}")

# %%
# Left: the cost's contours (log colour scale), the negative-gradient directions and the
# paths (square: start, star: end, red cross: the least-squares solution). Right: the
# gap to the minimum per step, falling geometrically as the theory of a convex quadratic
# says.
fig = cgrad.plot.toy_paths(surface, results)
