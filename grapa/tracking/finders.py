"""The trained track finders by name, and loading a saved one whatever its kind.

`grapa track train --model NAME` builds `FINDERS[NAME]`; `load_finder` reads the name a
finder saved in its `track_finder.json` (a finder saved before the name existed is the
edge classifier's).
"""

from __future__ import annotations

import json
from pathlib import Path

from grapa.tracking.hierarchical import HierarchicalTrackFinder
from grapa.tracking.pipeline import TrackFinder

__all__ = ["FINDERS", "load_finder"]

FINDERS = {
    "in-edge": TrackFinder,  # Exa.TrkX: edge filter, Interaction Network, track building
    "hgnn-bipartite": HierarchicalTrackFinder,  # Liu et al. 2023: bipartite classifier
}


def load_finder(directory):
    """The finder saved in `directory` (`TrackFinder.save`), of the kind it was trained as."""
    config_file = Path(directory) / "track_finder.json"
    if not config_file.exists():
        return TrackFinder.load(directory)  # names the missing file
    model = json.loads(config_file.read_text())["config"].get("model", "in-edge")
    if model not in FINDERS:
        raise ValueError(f"{config_file} names the model {model!r}; this grapa reads "
                         f"{', '.join(FINDERS)}")
    return FINDERS[model].load(directory)
