"""Every grapa figure, one function per figure (Klüttermann 2021, sec. 3.1, 3.3, 5.2).

Headless by construction: figures are `matplotlib.figure.Figure` objects created
directly, never through `pyplot`, so nothing here selects or changes the user's backend
and no window ever opens. Every function returns its `Figure` (Jupyter displays it) and
writes a PNG when given `path` (parent folders are created).

Colour conventions: background / input = red-ish, signal / output = blue-ish, as in the
thesis's reconstruction images; AUC maps use blue = 1, white = 0.5, red = 0.

One module per kind of figure: `roc` (ROC and double ROC), `distributions` (score
histograms), `maps` (AUC feature map, cross table), `reconstruction` (input vs output
jet), `training` (loss history, learned metric), `scan` (a hyperparameter scan),
`clustering` (confusion matrix and embedding of a clustering), `generative`
(real vs generated jets), `tracking` (tracking efficiency, event display);
`_common` holds the shared figure helpers, colours and `FEATURE_NAMES`. Import the
figures from here: `grapa.plotting.plot_roc`.
"""

from grapa.plotting._common import FEATURE_NAMES
from grapa.plotting.clustering import plot_confusion, plot_embedding
from grapa.plotting.distributions import plot_loss_distributions
from grapa.plotting.generative import plot_generated
from grapa.plotting.maps import plot_cross_table, plot_feature_auc_map
from grapa.plotting.reconstruction import plot_reconstruction
from grapa.plotting.roc import plot_double_roc, plot_roc
from grapa.plotting.scan import plot_scan
from grapa.plotting.tracking import plot_event_display, plot_tracking_efficiency
from grapa.plotting.training import plot_history, plot_metric

__all__ = [
    "FEATURE_NAMES",
    "plot_confusion",
    "plot_cross_table",
    "plot_double_roc",
    "plot_embedding",
    "plot_event_display",
    "plot_feature_auc_map",
    "plot_generated",
    "plot_history",
    "plot_loss_distributions",
    "plot_metric",
    "plot_reconstruction",
    "plot_roc",
    "plot_scan",
    "plot_tracking_efficiency",
]
