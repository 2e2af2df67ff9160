"""Training: split, fit, calibrate and evaluate a model."""
