"""Scores, ROC/AUC, AUC feature maps, c addition, baseline scorers and invertibility.

Klüttermann 2021, ch. 3.1 (ROC, AUC), 3.3.2 (AUC feature maps), 5.1.4 (c addition),
5.2.1 (the trivial angular scorer), 5.2.2 and 8.3 (invertibility, cross tables).

Conventions used by every function here:

- **background** is what a model was trained on; **signal** is the anomaly and the
  positive class of every ROC curve and AUC;
- **scores are "higher = more anomalous"** (an autoencoder's per-jet loss is one).

So AUC 1 means every signal jet scores above every background jet, AUC 0.5 is a random
guess and AUC 0 a perfect *anti*-classifier.

The package is plain numpy + `sklearn.metrics`; it imports no Keras at import time, so it scores
the output of any model (or of none: see `grapa.evaluation.baselines`).
"""

from grapa.evaluation.baselines import (
    BASELINES,
    DEFAULT_BASELINES,
    AngularScorer,
    MassScorer,
    ObservablesClassifier,
    ObservablesScorer,
    angular_distances,
    angular_scores,
    baseline_scorers,
    jet_features,
)
from grapa.evaluation.clustering import (
    MassKMeans,
    cluster_assignment,
    cluster_fractions,
    clustering_accuracy,
    confusion_matrix,
)
from grapa.evaluation.generative import (
    efp_graphs,
    efps,
    fpd,
    generation_metrics,
    jet_masses,
    kpd,
    physics_features,
    w1efp,
    w1m,
    w1p,
)
from grapa.evaluation.invertibility import (
    Invertibility,
    ScoringModel,
    cross_table,
    invertibility,
    non_invertible_pairs,
)
from grapa.evaluation.maps import c_addition, feature_auc_map, part_means
from grapa.evaluation.metrics import (
    auc,
    auc_difference,
    auc_standard_error,
    rejection,
    roc,
)

__all__ = [
    "BASELINES",
    "DEFAULT_BASELINES",
    "AngularScorer",
    "MassScorer",
    "ObservablesClassifier",
    "ObservablesScorer",
    "Invertibility",
    "ScoringModel",
    "angular_distances",
    "angular_scores",
    "baseline_scorers",
    "auc",
    "auc_difference",
    "auc_standard_error",
    "c_addition",
    "cluster_assignment",
    "cluster_fractions",
    "MassKMeans",
    "clustering_accuracy",
    "confusion_matrix",
    "cross_table",
    "efp_graphs",
    "efps",
    "feature_auc_map",
    "fpd",
    "generation_metrics",
    "invertibility",
    "jet_features",
    "jet_masses",
    "kpd",
    "non_invertible_pairs",
    "part_means",
    "physics_features",
    "rejection",
    "roc",
    "w1efp",
    "w1m",
    "w1p",
]
