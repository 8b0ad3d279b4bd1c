"""
Vanishing and exploding gradients
=================================

Backpropagation multiplies one factor per layer. A sigmoid's derivative is at most 1/4,
so in a deep sigmoid network the gradient shrinks layer after layer towards the input
and the first layers barely learn; ReLU with He initialisation keeps the gradient's size
through the depth. Weights a little too large make it grow instead, until a step
overflows: clipping the gradient's norm keeps the steps bounded.
"""
import numpy as np

import cgrad
import cgrad.plot
from cgrad.datasets import load_digits

X, y = load_digits()
depth = [64] + [32] * 8 + [10]            # nine Dense layers


def train(activation, scale=1.0, clip_norm=None):
    """The deep network (its initial weights times ``scale``) after 15 epochs of SGD."""
    model = cgrad.MLP(depth, activation=activation, seed=0)
    model.flat_params[...] *= scale
    history = model.fit(X, y, optimizer="sgd", lr=0.05, epochs=15, validation_split=0.2,
                        clip_norm=clip_norm, on_nonfinite="stop", verbose=0)
    return model, history


# %%
# Sigmoid (Glorot initialisation) against ReLU (He initialisation): the gradient norm of
# each layer in the first epoch, input layer first.
runs = {act: train(act) for act in ("sigmoid", "relu")}
for act, (model, h) in runs.items():
    first = np.asarray(h["grad_norm_layers"][0])
    print(f"{act:7s} ({model.init}): layer gradient norms from the input "
          f"{first[0]:.1e} to the output {first[-1]:.1e}; after 15 epochs loss "
          f"{h['loss'][-1]:.3f}, validation accuracy {h['val_accuracy'][-1]:.3f}")

# %%
# The sigmoid network: the norms fan out over orders of magnitude, the input layer's
# lowest, and the loss hardly moves.
sigmoid_norms = cgrad.plot.grad_norms(runs["sigmoid"][1])

# %%
# The ReLU network with He initialisation: every layer's gradient of the same size.
relu_norms = cgrad.plot.grad_norms(runs["relu"][1])

# %%
# Exploding: the ReLU network's initial weights times 1.6. Without clipping a step
# overflows to inf within the first epoch (``fit(on_nonfinite="stop")`` stops there and
# says where); clipped to a global norm of 1 the same run trains.
_, unclipped = train("relu", scale=1.6)
_, clipped = train("relu", scale=1.6, clip_norm=1.0)
print("without clipping:", unclipped.stopped)
print(f"clip_norm=1: {len(clipped.epoch)} epochs, first-epoch gradient norm "
      f"{clipped['grad_norm'][0]:.1f} (before clipping), final loss {clipped['loss'][-1]:.3f}, "
      f"validation accuracy {clipped['val_accuracy'][-1]:.3f}")
clipped_norms = cgrad.plot.grad_norms(clipped)
