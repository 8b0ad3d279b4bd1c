"""
Regularisation against overfitting
==================================

A wide network trained long on few rows learns them by heart: its training loss keeps
falling while the validation loss turns up. L2 and L1 penalties, dropout, batch
normalization and early stopping each restrain it in their own way; the validation
curves and the accuracies on held-out rows show what each buys on this problem (not
every remedy helps every model: their strengths are hyperparameters too).
"""
import cgrad
import cgrad.plot
from cgrad.callbacks import EarlyStopping
from cgrad.datasets import load_digits, train_val_test_split

X, y = load_digits()
X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
    X, y, val=0.3, test=0.3, stratify=True, seed=0)
X_train, y_train = X_train[:200], y_train[:200]       # few rows: easy to memorise
print(f"{len(X_train)} training rows, {len(X_val)} validation rows, {len(X_test)} test rows")

# %%
# The same 64-256-256-10 network from the same initial weights, 100 epochs of Adam (learning rate 3e-3), with
# each remedy in turn.
variants = {
    "none": ({}, {}),
    "L2 1e-3": ({}, {"l2": 1e-3}),
    "L1 1e-4": ({}, {"l1": 1e-4}),
    "dropout 0.5": ({"dropout": 0.5}, {}),
    "batch norm": ({"batch_norm": True}, {}),
    "early stopping": ({}, {"callbacks": [EarlyStopping(patience=5,
                                                        restore_best_weights=True)]}),
}
histories, test_accuracy = {}, {}
for name, (model_args, fit_args) in variants.items():
    model = cgrad.MLP([64, 256, 256, 10], seed=0, **model_args)
    histories[name] = model.fit(X_train, y_train, epochs=100, lr=3e-3,
                                validation_data=(X_val, y_val), verbose=0, **fit_args)
    test_accuracy[name] = model.evaluate(X_test, y_test)["accuracy"]
for name, h in histories.items():
    print(f"{name:14s}: {len(h.epoch):2d} epochs, training loss {h['loss'][-1]:.4f}, "
          f"validation loss {h['val_loss'][-1]:.4f} (lowest {min(h['val_loss']):.4f}), "
          f"test accuracy {test_accuracy[name]:.3f}")

# %%
# Without a remedy the training loss (solid) falls towards zero while the validation
# loss (dashed) rises after its low point.
plain = cgrad.plot.compare_curves({"none": histories["none"]}, key=("loss", "val_loss"))

# %%
# The validation loss of every variant (early stopping ends where it stopped improving
# for 5 epochs, with the best epoch's weights restored).
validation = cgrad.plot.compare_curves(histories, key="val_loss")
