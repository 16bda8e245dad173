"""``grapa cluster``: which kinds of jets are in a sample, and how many (UCluster)."""

from __future__ import annotations

from grapa.cli.common import CommandError, cli_words


def add_cluster(subparsers) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="cluster unlabelled jets into --clusters kinds with UCluster",
        description="Train UCluster (Mikuni & Canelli 2021: an EdgeConv embedding pretrained "
        "on the jets' own mass bins, centroids placed on its embedding, then a soft k-means "
        "loss) on the jets of one or more files, never reading a label, and cluster them. Writes model.keras, clusters.csv "
        "(file, row, split, cluster of every jet), history.csv, report.json, report.md and "
        "the figures into --out. Truth, where it exists, only scores: with several files "
        "a jet's class is its file, with one file its is_signal_new. The report tables "
        "UCluster's clustering accuracy on the held-out jets beside k-means on the jet mass.",
    )
    parser.add_argument("files", nargs="+", help="top-tagging HDF5 files (one per class, "
                        "when known)")
    parser.add_argument("--clusters", type=int, required=True, help="number of clusters")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--jets", type=int, default=None,
                        help="jets read from each file (default: all)")
    parser.add_argument("--test-fraction", type=float, default=0.25,
                        help="held-out share of the jets, scored only (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=30,
                        help="all epochs, pretraining included (default %(default)s)")
    parser.add_argument("--pretrain-epochs", type=int, default=10,
                        help="epochs of the mass-bin task alone (default %(default)s)")
    parser.add_argument("--constituents", type=int, default=None,
                        help="leading constituents the network sees (default: UCluster's, 50)")
    parser.add_argument("--start", choices=("mixture", "kmeans"), default="mixture",
                        help="where the centroids start after pretraining: a Gaussian "
                        "mixture's means, or k-means centres as in the paper (default "
                        "%(default)s)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a bar")
    parser.set_defaults(func=_run_cluster)


def _run_cluster(args) -> int:
    from grapa.cluster_report import cluster_files

    if args.clusters < 2:
        raise CommandError(f"--clusters {args.clusters}: give at least 2")
    if not 0 < args.test_fraction < 1:
        raise CommandError(f"--test-fraction {args.test_fraction}: give a share between 0 "
                           "and 1, e.g. 0.25")
    if args.constituents is not None and args.constituents < 1:
        raise CommandError(f"--constituents {args.constituents}: give at least 1 (or leave "
                           "it out for UCluster's 50)")
    if not 0 <= args.pretrain_epochs < args.epochs:
        raise CommandError(f"--pretrain-epochs {args.pretrain_epochs} --epochs {args.epochs}: "
                           "clustering needs epochs after pretraining; give --pretrain-epochs "
                           "below --epochs")
    try:
        report = cluster_files(
            args.files, args.clusters, args.out, jets_per_file=args.jets,
            test_fraction=args.test_fraction, epochs=args.epochs,
            pretrain_epochs=args.pretrain_epochs, n_constituents=args.constituents,
            batch_size=args.batch_size, seed=args.seed, start=args.start,
            verbose=2 if args.quiet else "auto")
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(cli_words(error)) from error
    sizes = ", ".join(str(size) for size in report["cluster_sizes"])
    print(f"clustered {report['jets']} jets into {args.clusters} clusters ({sizes} jets)")
    if "accuracy" in report:
        print(f"clustering accuracy on the {report['test_jets']} held-out jets: UCluster "
              f"{report['accuracy']['ucluster']:.3f}, k-means on the jet mass "
              f"{report['accuracy']['mass_kmeans']:.3f}")
    print(f"wrote {args.out}/report.md")
    return 0
