"""Reproducible training of the two networks: distortions, synthetic data and one command per network.

python -m deflicker_engine.training.train_filter   |   deflicker train filter
python -m deflicker_engine.training.train_refiner  |   deflicker train refiner
"""
