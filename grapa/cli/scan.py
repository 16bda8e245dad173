"""``grapa scan``: a grid or random search over a preset's options."""

from __future__ import annotations

from grapa.cli.common import add_ray_flag, ray_address


def add_scan(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="train a preset once per point of a grid or of random draws: the scan table",
        description="Train an autoencoder preset once per trial of the CONFIG's grid and random "
        "draws (any architecture option, learning_rate, batch_size, seed, ...); table each "
        "trial's best val_loss, AUC (with signal jets), epochs and seconds in scan.csv "
        "(and scan.parquet), and plot them in scan.png. See the docs page 'Scans and Ray'.",
    )
    parser.add_argument("config", help="scan config, JSON (or YAML with PyYAML installed)")
    parser.add_argument("--out", default="grapa-scan", help="output directory (default %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="trials trained in parallel processes")
    add_ray_flag(parser, "the trials as a Ray Tune experiment")
    parser.set_defaults(func=_run_scan)


def _run_scan(args) -> int:
    from pathlib import Path

    from grapa.scan import scan

    table = scan(args.config, args.out, workers=args.workers, ray=ray_address(args))
    print(table.to_string(float_format=lambda value: f"{value:.4g}"))
    if "error" in table:
        print(f"{int(table['error'].notna().sum())} of {len(table)} trials diverged (NaN): "
              "see their error column")
    print(f"wrote {Path(args.out) / 'scan.csv'} and {Path(args.out) / 'scan.png'}")
    return 0
