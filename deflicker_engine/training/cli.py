"""`deflicker train filter|refiner`: the same training as `python -m deflicker_engine.training.train_*`."""
from __future__ import annotations

from . import train_filter, train_refiner


def register(subparsers) -> None:
    """Add the `train` command with one subcommand per network."""
    parser = subparsers.add_parser("train", help="train the neural filter or the local refiner from photographs",
                                   description="Train a network reproducibly; the result replaces --out.")
    networks = parser.add_subparsers(dest="network", metavar="NETWORK")
    networks.required = True
    for name, module, text in (("filter", train_filter, "neural filter F (atlas-guided, on still photographs)"),
                               ("refiner", train_refiner, "local refiner L (on synthetic flickering clips)")):
        sub = networks.add_parser(name, help=f"train the {text}", description=module.__doc__.split("\n\n")[0])
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)
