"""Toy distributions: `Mixture1D` (a 1-D Gaussian mixture with its density, so chapter 1 can
draw the optimal discriminator), `ring2d` and `grid2d` (the 2-D mixtures of GAN Lab and of
Metz et al. 2017, "Unrolled GANs", arXiv:1611.02163), and `overlapping_classes`.
"""

import math
from dataclasses import dataclass

import torch

from .batches import ImageData


@dataclass(frozen=True)
class Mixture1D:
    """A 1-D mixture of Gaussians; `sample` for training, `pdf` for the optimal D."""

    means: tuple = (-0.5, 0.5)  # component centres, inside [-1, 1]
    stds: tuple = (0.1, 0.1)  # component standard deviations
    weights: tuple = (0.5, 0.5)  # mixing weights, summing to 1

    def sample(self, n, generator=None):
        """n draws (n, 1) float32 from the mixture (from `generator` if given, else torch's
        global generator)."""
        w = torch.tensor(self.weights, dtype=torch.float)
        k = torch.multinomial(w, n, replacement=True, generator=generator)
        eps = torch.randn(n, generator=generator)
        return (torch.tensor(self.means)[k] + torch.tensor(self.stds)[k] * eps).unsqueeze(1)

    def pdf(self, x):
        """The density at `x`, in x's floating dtype (float64 keeps far tails from underflowing)."""
        x = torch.as_tensor(x)
        x = x if x.is_floating_point() else x.float()
        out = torch.zeros_like(x)
        for m, s, w in zip(self.means, self.stds, self.weights):
            out += w * torch.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return out


def _mixture2d(centres, n, std, generator):
    k = torch.randint(len(centres), (n,), generator=generator)
    return centres[k] + std * torch.randn(n, 2, generator=generator)


def ring_centres(modes=8, radius=0.8):
    """(modes, 2) centres evenly spaced on a circle."""
    angles = torch.arange(modes) * (2 * math.pi / modes)
    return radius * torch.stack([angles.cos(), angles.sin()], 1)


def grid_centres(side=5, extent=0.8):
    """(side^2, 2) centres on a grid spanning [-extent, extent]^2."""
    ticks = torch.linspace(-extent, extent, side)
    return torch.cartesian_prod(ticks, ticks)


def ring2d(n, modes=8, radius=0.8, std=0.03, generator=None):
    """`n` points (n, 2) from `modes` Gaussians evenly spaced on a circle."""
    return _mixture2d(ring_centres(modes, radius), n, std, generator)


def grid2d(n, side=5, extent=0.8, std=0.03, generator=None):
    """`n` points (n, 2) from a side x side grid of Gaussians spanning [-extent, extent]^2."""
    return _mixture2d(grid_centres(side, extent), n, std, generator)


def overlapping_classes(n, means=(-0.25, 0.25), std=0.2, generator=None):
    """Labelled 1-D data: `n` points of each class c, N(means[c], std^2), clipped to
    (-0.99, 0.99) (a tanh generator's range), as an `ImageData` of floats (K * n, 1) with
    labels (K * n,). Close means make classes that overlap, which no classifier can separate:
    the testbed on which AC-GAN's bias shows (Gong et al. 2019, arXiv:1907.02690, sec. 3)."""
    labels = torch.arange(len(means)).repeat_interleave(n)
    centres = torch.tensor(means, dtype=torch.float32)[labels]
    x = torch.randn(len(labels), generator=generator) * std + centres
    return ImageData(x.clamp(-0.99, 0.99)[:, None], labels,
                     f"{len(means)} classes of {n} points, N(mu, {std}^2), mu in {tuple(means)}")
