"""The two networks of the method and the loading of their shipped weights.

NeuralFilter(frame, atlas) -> filtered; LocalRefiner(filtered_t, filtered_prev_warped, output_prev_warped,
mask) -> output_t. Tensors N x 3 x H x W in [0, 1] working encoding (mask N x 1 x H x W), any H and W.
"""
from .filter_net import FilterConfig, NeuralFilter
from .refiner_net import LocalRefiner, RefinerConfig, first_frame_inputs
from .weights import (FILTER_WEIGHTS, REFINER_WEIGHTS, load_checkpoint, load_filter, load_refiner,
                      read_checkpoint, save_checkpoint)

__all__ = [
    "FilterConfig", "NeuralFilter", "LocalRefiner", "RefinerConfig", "first_frame_inputs",
    "FILTER_WEIGHTS", "REFINER_WEIGHTS", "load_checkpoint", "load_filter", "load_refiner",
    "read_checkpoint", "save_checkpoint",
]
