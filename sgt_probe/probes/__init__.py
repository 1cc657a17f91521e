"""Probes on captured activations: scikit-learn-style, they take arrays, never models.

Inputs are numpy arrays or torch tensors; results are numpy arrays or Python floats.
"""

from sgt_probe.probes.cka import debiased_linear_cka, layerwise_cka
from sgt_probe.probes.logistic import LayerwiseProbe
from sgt_probe.probes.separability import (
    fisher_ratio,
    layerwise_fisher_ratio,
    layerwise_silhouette,
    silhouette,
)
from sgt_probe.probes.stats import (
    balanced_accuracy,
    bootstrap_balanced_ci,
    bootstrap_ci,
    control_labels,
    paired_bootstrap_delta,
    selectivity,
)

__all__ = [
    "LayerwiseProbe",
    "balanced_accuracy",
    "bootstrap_balanced_ci",
    "bootstrap_ci",
    "control_labels",
    "debiased_linear_cka",
    "fisher_ratio",
    "layerwise_cka",
    "layerwise_fisher_ratio",
    "layerwise_silhouette",
    "paired_bootstrap_delta",
    "selectivity",
    "silhouette",
]
