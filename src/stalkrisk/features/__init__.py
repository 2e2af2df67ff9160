"""As-of feature pipeline: the registry (features as data) and the builder."""

from stalkrisk.features.build import build_features
from stalkrisk.features.registry import FEATURES, GROUPS, Feature, feature_names

__all__ = ["FEATURES", "GROUPS", "Feature", "build_features", "feature_names"]
