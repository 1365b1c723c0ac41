"""Command line.

``python -m helpers check`` tells what a run of the book will use, and stops early if it cannot work
(missing data, VGG19 weights absent and stand-ins not allowed). ``python -m helpers prepare-data DIR
[--from SHARED]`` fills an offline data directory once, by downloading or by copying a shared one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers import config, data, prepare, pretrained
from helpers.errors import BookError, WeightsError


def check() -> None:
    """Print the settings of this run and fail with one clear message if the book cannot be built."""
    profile = config.profile()
    folder = config.data_dir()
    print(f"profile:      {profile} ({config.PROFILE_VAR})")
    print(f"data:         {folder or 'downloaded by the canonical loaders'} ({config.DATA_VAR})")
    if folder is not None:
        data.read_imagenet50(folder / data.IMAGENET50_DIR)
        data.load_cifar10()
        data.imagenet_class_names()
        print("              imagenet50, CIFAR-10 and the ImageNet class index are there and readable")
    weights = pretrained.vgg19_weights_file()
    if weights is not None:
        print(f"VGG19:        ImageNet weights at {weights}")
    elif folder is None:
        print("VGG19:        ImageNet weights will be downloaded by Keras")
    elif config.standin_weights_allowed():
        print("VGG19:        ImageNet weights ABSENT: the gradient chapter will use RANDOM stand-in weights,\n"
              "              and its explanations will mean nothing (allowed by the quick profile or "
              f"{config.STANDIN_VAR}=1)")
    else:
        raise WeightsError(
            f"VGG19's ImageNet weights ({pretrained.VGG19_WEIGHTS_FILE}) are not in "
            f"{folder / 'keras-home' / 'models'} nor in Keras's cache, and stand-in weights are not allowed. "
            f"Copy the weights there, or build the quick profile (SHAP_BOOK_PROFILE=quick), or allow random "
            f"stand-in weights explicitly ({config.STANDIN_VAR}=1)."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="show what a run will use; fail early if it cannot work")
    prep = sub.add_parser("prepare-data", help="fill an offline data directory (download, or copy with --from)")
    prep.add_argument("directory", type=Path)
    prep.add_argument("--from", dest="source", type=Path, help="a prepared directory to copy and verify")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            check()
        else:
            written = prepare.prepare(args.directory, args.source)
            print(f"prepared {args.directory}: {', '.join(written)}; now set {config.DATA_VAR}={args.directory}")
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
