"""Autoencoder models: plain, denoising, sparse, contractive, convolutional, variational."""

from npae.models.autoencoder import (  # noqa: F401
    MODELS,
    Autoencoder,
    check_data,
    dense_autoencoder,
    dense_layers,
)

__all__ = ["MODELS", "Autoencoder", "check_data", "dense_autoencoder", "dense_layers"]
