"""Autoencoder models: plain, denoising, sparse, contractive, convolutional, variational."""

from npae.models import variational  # noqa: F401  (models.variational.reparameterize is public API)
from npae.models.autoencoder import (
    MODELS,
    Autoencoder,
    check_data,
    dense_autoencoder,
    dense_layers,
)
from npae.models.classifier import Classifier, classifier_from
from npae.models.contractive import ContractiveAutoencoder
from npae.models.convolutional import conv_autoencoder, conv_layers, summary
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.models.stacked import Stack, pretrain_stack, unroll
from npae.models.tied import TiedLinearAutoencoder
from npae.models.variational import VAE, conv_vae, dense_vae

__all__ = ["MODELS", "Autoencoder", "DenoisingAutoencoder", "SparseAutoencoder",
           "ContractiveAutoencoder", "VAE", "check_data", "dense_autoencoder", "dense_layers",
           "conv_autoencoder", "conv_layers", "summary", "dense_vae", "conv_vae", "variational",
           "Stack", "pretrain_stack", "unroll", "Classifier", "classifier_from",
           "TiedLinearAutoencoder"]
