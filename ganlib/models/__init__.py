"""Generators and discriminators for every chapter, built from constructor arguments only.

Every generator maps z (B, nz) to samples and has `nz` and `sample(n, seed=None)`; every
discriminator returns raw logits, one per image (B,) (one per pack of m with PacGAN), the
sigmoid living in the loss (softplus, numerically stable where Sigmoid + BCELoss is not). Every model keeps its constructor arguments in
`hparams`, so a checkpoint stores (kind, hparams, state) and `build` rebuilds it.

mlp.py: the toy and MNIST MLPs · dcgan.py: DCGAN and `weights_init` · conditional.py,
conditional_dcgan.py: G(z, y) and D(x, y) · resnet.py: R3GAN's normalisation-free ResNet pair ·
layers.py: the shared pieces.
"""

from .conditional import (ACGANMLPDiscriminator, ConcatMLPDiscriminator, ConditionalGenerator,
                          ConditionalMLPGenerator, ProjectionMLPDiscriminator, balanced_labels,
                          check_labels, is_conditional)
from .conditional_dcgan import (ACGANDCGANDiscriminator, ConcatDCGANDiscriminator,
                                ConditionalDCGANGenerator, ProjectionDCGANDiscriminator)
from .dcgan import DCGAN_SIZES, DCGANDiscriminator, DCGANGenerator, weights_init
from .layers import Generator, MinibatchStd, Pack, has_conv, mixes_batch, unwrap
from .mlp import MLPDiscriminator, MLPGenerator, ToyDiscriminator, ToyGenerator
from .resnet import RESNET_SIZES, Bottleneck, ResNetDiscriminator, ResNetGenerator

# Every kind a checkpoint may name, and the class that rebuilds it. A checkpoint stores
# (kind, hparams), never code, so these names are a file format: never rename one.
MODELS = {
    "toy_g": ToyGenerator, "toy_d": ToyDiscriminator,
    "mlp_g": MLPGenerator, "mlp_d": MLPDiscriminator,
    "dcgan_g": DCGANGenerator, "dcgan_d": DCGANDiscriminator,
    "cond_mlp_g": ConditionalMLPGenerator, "concat_mlp_d": ConcatMLPDiscriminator,
    "projection_mlp_d": ProjectionMLPDiscriminator, "acgan_mlp_d": ACGANMLPDiscriminator,
    "cond_dcgan_g": ConditionalDCGANGenerator, "concat_dcgan_d": ConcatDCGANDiscriminator,
    "projection_dcgan_d": ProjectionDCGANDiscriminator, "acgan_dcgan_d": ACGANDCGANDiscriminator,
    "resnet_g": ResNetGenerator, "resnet_d": ResNetDiscriminator,
}


def kind_of(model):
    """The key of `model`'s class in `MODELS` (a compiled or DataParallel model's, unwrapped):
    the inverse of `build`. TypeError for a model ganlib cannot rebuild."""
    model = unwrap(model)
    for kind, cls in MODELS.items():
        if type(model) is cls:
            return kind
    raise TypeError(f"{type(model).__name__} is not a ganlib model, so a checkpoint cannot "
                    f"rebuild it; known: {sorted(MODELS)}")


def build(kind, **hparams):
    """A new model of `kind` (a key of `MODELS`) built with `hparams`."""
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODELS)}")
    return MODELS[kind](**hparams)
