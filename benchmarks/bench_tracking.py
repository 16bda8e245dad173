"""Per-event time and peak memory of each track-finding stage at 1,000 and 5,000 particles.

Stages: simulation (`simulate_event`), graph construction (`layer_pair_graph` with the
finder's options: by default each hit's 24 nearest outer hits per layer, so the edges
grow linearly with the hits; `--full-graph` lists every pair in the windows), the
edge filter (with its continuation features, when the finder reads them), the edge classifier (its first call per padded size compiles and is not
timed) and track building (`TrackFinder.build`: the walk, then `join_fragments`).
Without --model, a finder is trained for speed only (2 events of 1,000 particles, 1
epoch): the filter's threshold, which sets the classifier's edge count, is then close
to a trained one's. Peak memory is
the growth of the process's resident set during the stage (Linux's VmHWM, reset before
each stage through /proc/self/clear_refs), so JAX's buffers count too. Prints one line:
per stage and size, the median seconds per event and the peak MB, and the ratios of
time and of the largest stage's peak memory, 5,000 / 1,000 particles (5 = linear).

    python benchmarks/bench_tracking.py
    python benchmarks/bench_tracking.py --model RUN --events 5
"""

import argparse
import os
import re
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from grapa.tracking.events import make_event  # noqa: E402
from grapa.tracking.graph import continuation_features  # noqa: E402
from grapa.tracking.pipeline import (  # noqa: E402
    TrackFinder,
    event_graph,
    select_edges,
)
from grapa.tracking.simulate import simulate_event  # noqa: E402

STAGES = ("simulate", "graph", "filter", "classifier", "build")


def _memory_kb(field):
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


class Stage:
    """Times a block and measures how far the resident set peaks above its start."""

    def __init__(self, results, name):
        self.results, self.name = results, name

    def __enter__(self):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.rss, self.start = _memory_kb("VmRSS"), time.perf_counter()

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.start
        peak_mb = (_memory_kb("VmHWM") - self.rss) / 1024
        self.results.setdefault(self.name, []).append((seconds, peak_mb))


def measure(finder, n_particles, n_events, seed):
    results = {}
    for i in range(n_events + 1):  # event 0 warms up (compiles) and is not counted
        target = results if i else {}
        with Stage(target, "simulate"):
            event = make_event(i, *simulate_event(n_particles, seed=seed + i))
        with Stage(target, "graph"):
            graph = event_graph(event, **finder.config["graph_options"])
        with Stage(target, "filter"):
            if finder.config.get("filter_continuation"):
                graph.continuation = continuation_features(event.hits, graph.edges)
            kept = select_edges(graph, finder._filter_logits(graph)
                                > finder.config["filter_threshold"])
        with Stage(target, "classifier"):
            edges, scores = finder.edge_scores(event, kept)
        with Stage(target, "build"):
            finder.build(event, edges, scores)
        if i:
            results.setdefault("edges", []).append((graph.edges.shape[1], kept.edges.shape[1]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained track finder (grapa track train)")
    parser.add_argument("--events", type=int, default=3, help="timed events per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--full-graph", action="store_true",
                        help="no cap on the neighbours per hit (the quadratic graph)")
    args = parser.parse_args()
    graph_options = {"max_neighbours": None} if args.full_graph else {}
    if args.model:
        finder = TrackFinder.load(args.model)
        finder.config["graph_options"].update(graph_options)
    else:
        finder = TrackFinder(graph_options=graph_options)
        events = [make_event(i, *simulate_event(1000, seed=100 + i)) for i in range(2)]
        finder.fit(events, epochs=1, filter_epochs=1, verbose=0)
    parts, seconds = [], {}
    for size in args.sizes:
        results = measure(finder, size, args.events, seed=size)
        raw, kept = np.median(np.array(results["edges"]), axis=0)
        line = [f"{size} particles ({raw / 1e3:.0f}k -> {kept / 1e3:.0f}k edges)"]
        for stage in STAGES:
            values = np.array(results[stage])
            seconds[size, stage] = np.median(values[:, 0])
            line.append(f"{stage} {seconds[size, stage]:.3f} s {values[:, 1].max():.0f} MB")
        total = sum(seconds[size, s] for s in STAGES)
        slowest = max(STAGES, key=lambda s: seconds[size, s])
        line.append(f"total {total:.2f} s/event, slowest {slowest} "
                    f"({seconds[size, slowest] / total:.0%})")
        seconds[size, "total"] = total
        seconds[size, "peak"] = max(np.array(results[s])[:, 1].max() for s in STAGES)
        parts.append(", ".join(line))
    if len(args.sizes) == 2:
        small, large = args.sizes
        parts.append(f"time ratio {large}/{small}: "
                     f"{seconds[large, 'total'] / seconds[small, 'total']:.1f}, peak memory "
                     f"ratio {seconds[large, 'peak'] / seconds[small, 'peak']:.1f} "
                     f"({large / small:.0f} = linear)")
    print("; ".join(parts))


if __name__ == "__main__":
    main()
