"""
The learning rate
=================

Too small a learning rate crawls, too large a one oscillates or diverges. A schedule
starts large and shrinks the step as training goes on: step decay divides it at fixed
epochs, exponential decay a little every epoch, cosine annealing follows half a cosine
down to zero.
"""
import numpy as np

import cgrad
import cgrad.plot
from cgrad.compare_optimizers import compare_on_surface
from cgrad.datasets import load_digits
from cgrad.schedules import get_schedule
from cgrad.toy import get_surface

# %%
# On the linear-regression cost the largest stable step of gradient descent is 2 over
# the Hessian's largest eigenvalue; below it the paths converge, the smaller the slower,
# above it they diverge.
surface = get_surface("linear")
g0 = np.array(surface.grad(0.0, 0.0))        # the gradient is linear: its Jacobian is
hessian = np.column_stack([np.array(surface.grad(1.0, 0.0)) - g0,    # the Hessian
                           np.array(surface.grad(0.0, 1.0)) - g0])
print(f"largest stable learning rate 2 / lambda_max = {2 / np.linalg.eigvalsh(hessian).max():.3f}")
results = []
for lr in (0.02, 0.2, 0.45, 0.55):
    _, (r,), _ = compare_on_surface("linear", names=["sgd"], steps=40,
                                          learning_rates={"sgd": lr})
    r.tag = f"lr {lr}"
    results.append(r)
    print(f"lr {lr:5}: J after 40 steps = {r.losses[-1]:.4g} (minimum {surface.minimum:.4g})")
paths = cgrad.plot.toy_paths(surface, results)

# %%
# On the digits: plain SGD with a constant learning rate that is too small, about
# right, and too large.
X, y = load_digits()
constant = {}
for lr in (0.002, 0.05, 1.5):
    model = cgrad.MLP([64, 32, 10], seed=0)
    constant[f"lr {lr}"] = model.fit(X, y, optimizer="sgd", lr=lr, epochs=20,
                                     validation_split=0.2, verbose=0)
for name, h in constant.items():
    print(f"{name:9s}: final loss {h['loss'][-1]:.4f}, validation accuracy "
          f"{h['val_accuracy'][-1]:.3f}")
constant_fig = cgrad.plot.compare_curves(constant, key="loss")

# %%
# Schedules from a large start (0.5): the learning rate per epoch, and the training loss
# each gives against the constant rate.
schedules = {"constant 0.5": None,
             "step (halve every 5)": get_schedule("step", 0.5, step_size=5, gamma=0.5),
             "exponential (x0.85)": get_schedule("exponential", 0.5, gamma=0.85),
             "cosine": get_schedule("cosine", 0.5, t_max=20)}
scheduled = {}
for name, schedule in schedules.items():
    model = cgrad.MLP([64, 32, 10], seed=0)
    scheduled[name] = model.fit(X, y, optimizer="sgd", lr=0.5, epochs=20, schedule=schedule,
                                validation_split=0.2, verbose=0)
    h = scheduled[name]
    print(f"{name:21s}: last lr {h['lr'][-1]:.3g}, final loss {h['loss'][-1]:.4f}, "
          f"final validation loss {h['val_loss'][-1]:.4f}")
rates = cgrad.plot.compare_curves(scheduled, key="lr", log=False, title="learning rate")
losses = cgrad.plot.compare_curves(scheduled, key=("loss", "val_loss"))
