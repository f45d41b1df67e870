"""The game a training step plays: the two losses, what D sees, the terms added to each
player's loss, the labels, the precision, and where G's noise comes from.

`fit` builds it from its FitConfig at the top (`make_game`); each batch then binds its labels
(`Game.take`) and each step its schedules (instance noise, lazy R1). `ganlib.steps` only asks
it questions, so the step keeps the shape of Algorithm 1 whatever a chapter adds. `Game()` is
chapter 1's game: D's cross-entropy against the non-saturating G, nothing else.

The extra terms are small callables beside the losses they extend: R1 and R2 (Mescheder et al.
2018, arXiv:1801.04406), WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028) and AC-GAN's class
cross-entropy (Odena et al. 2017, arXiv:1610.09585).
"""

import contextlib
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import torch

from .augment import make_augment
from .losses import PAIRED, ac_loss, d_loss, g_loss_nonsaturating, loss_pair
from .models import mixes_batch
from .penalties import gradient_penalty, r1_penalty


class Judged(NamedTuple):
    """What D saw and said of one batch."""

    x: torch.Tensor  # the images D judged, as it saw them (augmented), (B, ...)
    logits: torch.Tensor  # D's real-or-fake logits, float32 (B,)
    classes: torch.Tensor | None  # AC-GAN's class logits (B, n_classes), else None


def logits_of(D, x, y=None):
    """D(x), or D(x, y) for a conditional D given labels y (B,)."""
    return D(x) if y is None else D(x, y)


def randn(n, nz, device):
    """G's noise z ~ N(0, I), (n, nz), from torch's global generator on `device`."""
    return torch.randn(n, nz, device=device)


@dataclass(frozen=True)
class Game:
    """Everything a step needs besides the models, their optimizers and the batch."""

    d_loss: Callable = d_loss  # D's loss on (real_logits, fake_logits): -V(D, G) by default
    g_loss: Callable = g_loss_nonsaturating  # G's loss on fake_logits (and real_logits: paired)
    paired: bool = False  # G's loss pairs each fake with a real (RpGAN): G's step judges reals
    augment: Callable | None = None  # x -> T(x) on everything D sees (DiffAugment, noise)
    d_terms: tuple = ()  # added to D's loss: term(D, real: Judged, fake: Judged, game)
    g_terms: tuple = ()  # added to G's loss: term(fake: Judged, game)
    classes: bool = False  # D has a class head (AC-GAN): judge with forward_with_classes
    y: torch.Tensor | None = None  # this batch's labels (B,), for a conditional pair
    amp_dtype: torch.dtype | None = None  # autocast's dtype for the forward passes (bf16)
    noise: Callable = randn  # (n, nz, device) -> z; under torchrun, this process's rows

    def take(self, batch):
        """(images, the game for them): a batch of images, or (images, labels)."""
        if isinstance(batch, (tuple, list)):
            x, y = batch
            return x, replace(self, y=y.to(x.device))
        return batch, self

    def see(self, x):
        """What D sees of x: T(x), or x itself without augmentation."""
        return x if self.augment is None else self.augment(x)

    def autocast(self, device):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.amp_dtype)

    @property
    def grad_at_reals(self):
        """Whether a D term differentiates D at the real images (R1)."""
        return any(getattr(term, "at_reals", False) for term in self.d_terms)

    @property
    def grad_at_fakes(self):
        """Whether a D term differentiates D at the fake images (R2)."""
        return any(getattr(term, "at_fakes", False) for term in self.d_terms)

    def judge(self, D, x, y=None):
        """D's verdict on x (B, ...), with labels y (B,) for a conditional D."""
        if self.classes:
            logits, classes = D.forward_with_classes(x)
            return Judged(x, logits.float(), classes.float())
        return Judged(x, logits_of(D, x, y).float(), None)

    def judge_both(self, D, real, fake):
        """D's verdicts on a real and a fake batch: one forward pass of 2B images, unless D
        mixes the images of a batch (BatchNorm, minibatch std, packing), where a mixed batch
        would change what D computes."""
        if mixes_batch(D):
            return self.judge(D, real, self.y), self.judge(D, fake, self.y)
        y = None if self.y is None else torch.cat([self.y, self.y])
        both, n = self.judge(D, torch.cat([real, fake]), y), len(real)
        classes = (None, None) if both.classes is None else (both.classes[:n], both.classes[n:])
        return (Judged(real, both.logits[:n], classes[0]),
                Judged(fake, both.logits[n:], classes[1]))

    def add_terms(self, loss, terms, *args):
        """loss + each term(*args, self), added in order."""
        for term in terms:
            loss = loss + term(*args, self)
        return loss


PLAIN = Game()


@dataclass(frozen=True)
class R1:
    """gamma / 2 * E||grad_x D(x)||^2 on the reals (Mescheder et al. 2018, eq. 9)."""

    gamma: float
    at_reals, at_fakes = True, False  # whose images autograd must track before D sees them

    def __call__(self, D, real, fake, game):
        judged = real if self.at_reals else fake
        return self.gamma / 2 * r1_penalty(judged.logits, judged.x)


class R2(R1):
    """R1's penalty on the fakes instead: gamma / 2 * E||grad_x D(G(z))||^2 (eq. 10)."""

    at_reals, at_fakes = False, True


@dataclass(frozen=True)
class GradientPenalty:
    """lambda * E(||grad D(x_hat)||_2 - 1)^2 between reals and fakes (WGAN-GP, eq. 3)."""

    weight: float

    def __call__(self, D, real, fake, game):
        critic = D if game.y is None else (lambda x: D(x, game.y))
        return self.weight * gradient_penalty(critic, real.x, fake.x)


@dataclass(frozen=True)
class ClassLoss:
    """AC-GAN's class cross-entropy, weighted (Odena et al. 2017, eqs. 1-2): D's loss gains it
    on the reals and on the fakes, G's loss on the fakes (`on_fakes`)."""

    weight: float

    def __call__(self, D, real, fake, game):
        return self.weight * (ac_loss(real.classes, game.y) + ac_loss(fake.classes, game.y))

    def on_fakes(self, fake, game):
        return self.weight * ac_loss(fake.classes, game.y)


def make_game(g_loss="nonsaturating", augment="", r1_weight=0.0, gp_weight=0.0,
              ac_weight=0.0, amp_dtype=None, noise=randn, r2_weight=0.0):
    """The `Game` of these settings (FitConfig's names): g_loss names the game of
    `ganlib.losses.LOSSES`, augment a DiffAugment policy; each weight > 0 adds its term.
    Raises ValueError for an unknown game or augmentation."""
    d_loss_fn, g_loss_fn = loss_pair(g_loss)
    d_terms = [R1(r1_weight)] if r1_weight else []  # summed in this order
    d_terms += [R2(r2_weight)] if r2_weight else []
    d_terms += [GradientPenalty(gp_weight)] if gp_weight else []
    d_terms += [ClassLoss(ac_weight)] if ac_weight else []
    g_terms = [ClassLoss(ac_weight).on_fakes] if ac_weight else []
    return Game(d_loss_fn, g_loss_fn, g_loss in PAIRED, make_augment(augment), tuple(d_terms),
                tuple(g_terms), classes=bool(ac_weight), amp_dtype=amp_dtype, noise=noise)
