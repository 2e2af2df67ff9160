"""Evaluation: metrics and thresholds, fairness, drift, and the bootstrap they share."""
