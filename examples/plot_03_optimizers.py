"""
Optimizers from one start
=========================

SGD, SGD with momentum, Nesterov, Adam, RMSprop and AdaGrad train the same network on the
digits from the same initial weights, each with a learning rate it makes steady
progress with. The curves show how fast each lowers the training loss per pass over the
data; the landscape shows where each path goes, in the plane where the runs vary most.
"""
import cgrad.plot
from cgrad import compare_optimizers
from cgrad.landscape import loss_landscape

# %%
# Fifteen epochs each (mini-batches of 32), the learning rates of
# ``cgrad.compare_optimizers.LEARNING_RATES``; the table gives the final full-batch
# training loss, the test accuracy and the epochs to reach a loss of 0.1.
names = ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"]
results, notes, best, (X_train, y_train) = compare_optimizers.compare_on_digits(
    names=names, epochs=15, seed=0)
print(compare_optimizers.format_table(results, target=0.1))

# %%
# The training loss after every epoch, on a log scale.
curves = cgrad.plot.optimizer_curves(results)

# %%
# Every path on one loss landscape: the plane of the two principal directions of all the
# trajectories, centred on the run with the lowest final loss.
land = loss_landscape(best, X_train, y_train, directions="pca", resolution=21,
                      trajectory={r.label: r.path for r in results})
landscape = cgrad.plot.loss_landscape(land)
