"""
Full-batch, mini-batch and stochastic gradient descent
======================================================

Full-batch gradient descent takes one exact step per pass over the data; stochastic
gradient descent (one row per step) takes as many noisy steps as there are rows; mini-batches
sit in between. Per epoch the small batches get much further, but each epoch costs more
seconds, and their loss bounces where the full-batch one falls smoothly.
"""
import cgrad
import cgrad.plot
from cgrad.datasets import load_digits

X, y = load_digits()

# %%
# The same network from the same initial weights, plain SGD with one learning rate,
# batch sizes: all rows (``None``), 32 and 1.
histories = {}
for name, batch_size in (("full batch", None), ("mini-batch 32", 32), ("stochastic (1)", 1)):
    model = cgrad.MLP([64, 32, 10], seed=0)
    histories[name] = model.fit(X, y, optimizer="sgd", lr=0.05, epochs=20,
                                batch_size=batch_size, validation_split=0.2, verbose=0)
for name, h in histories.items():
    print(f"{name:15s} final loss {h['loss'][-1]:.4f}, validation loss "
          f"{h['val_loss'][-1]:.4f}, accuracy {h['val_accuracy'][-1]:.3f}, "
          f"{sum(h['seconds']):.3f} s for 20 epochs")

# %%
# Per epoch: the training loss (solid) and the validation loss (dashed).
by_epoch = cgrad.plot.compare_curves(histories, key=("loss", "val_loss"))

# %%
# The same runs against the seconds of training: an epoch of single-row steps costs
# more than an epoch of mini-batches.
by_time = cgrad.plot.compare_curves(histories, key="loss", x="seconds")
