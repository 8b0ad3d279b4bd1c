"""
Saddle points, local minima and random restarts
===============================================

Gradient descent stops wherever the gradient vanishes: at a minimum, but also on a saddle
point, and which minimum it reaches depends on where it starts. Starting several times
from random points and keeping the best result is the plain remedy, on a toy surface as
for a network.
"""
import numpy as np

import cgrad
import cgrad.plot
from cgrad.compare_optimizers import compare_on_surface
from cgrad.datasets import load_digits
from cgrad.sklearn import MLPClassifier
from cgrad.toy import get_surface

# %%
# f(x, y) = x^4/4 - x^2/2 + y^2/2 has a saddle at (0, 0) and minima at (+-1, 0). Gradient
# descent from four random starts and from one on the ridge x = 0, where the gradient
# never points sideways: that run ends on the saddle.
surface = get_surface("saddle")
rng = np.random.default_rng(3)
starts = [tuple(np.round(rng.uniform(-1.6, 1.6, 2), 2)) for _ in range(4)] + [(0.0, 1.5)]
runs = []
for start in starts:
    _, (r,), _ = compare_on_surface("saddle", names=["sgd"], steps=80, start=start)
    r.tag = f"start {start[0]:+.2f}, {start[1]:+.2f}"
    runs.append(r)
    print(f"{r.tag}: ends at ({r.path[-1][0]:+.3f}, {r.path[-1][1]:+.3f}), "
          f"f = {r.losses[-1]:+.4f}")
best = min(runs, key=lambda r: r.losses[-1])
print(f"kept: {best.tag}, f = {best.losses[-1]:+.4f} (the minimum is {surface.minimum})")
paths = cgrad.plot.toy_paths(surface, runs)

# %%
# A small network on the digits from five seeds: the validation loss after the same
# training differs from seed to seed.
X, y = load_digits()
seeds = {}
for seed in range(5):
    model = cgrad.MLP([64, 8, 10], seed=seed)
    seeds[f"seed {seed}"] = model.fit(X, y, epochs=30, validation_split=0.2, verbose=0)
for name, h in seeds.items():
    print(f"{name}: final validation loss {h['val_loss'][-1]:.4f}, "
          f"accuracy {h['val_accuracy'][-1]:.3f}")
curves = cgrad.plot.compare_curves(seeds, key="val_loss")

# %%
# ``cgrad.sklearn.MLPClassifier(n_restarts=5)`` does the same selection: five seeds on
# the same training rows, each stopped early on the held-out ``validation_fraction``,
# keeping the one with the lowest loss there.
est = MLPClassifier((8,), learning_rate_init=0.01, max_iter=200, early_stopping=True,
                    n_restarts=5, validation_fraction=0.2, random_state=0).fit(X, y)
print("validation loss of each restart:", np.round(est.restart_validation_losses_, 4))
print(f"kept the restart with {min(est.restart_validation_losses_):.4f}")
