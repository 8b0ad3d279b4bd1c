"""
Smoke
=====

A check of the gallery machinery.
"""
import cgrad
import cgrad.plot
from cgrad.datasets import load_digits

X, y = load_digits()
model = cgrad.MLP([64, 32, 10], seed=0)
history = model.fit(X, y, epochs=3, validation_split=0.2, verbose=0)
fig = cgrad.plot.training_curves(history)
