"""Track finding on detector hits: the TrackML event format, a barrel-detector
simulator, graph construction on hits, the edge-classifier pipeline and its metrics.

A column of its own beside `grapa.data` and `grapa.models`: it uses `grapa.layers`
(the edge-list layers of `grapa.layers.sparse`) and nothing of the jet models.
"""
