"""GAN losses as small pure functions of discriminator logits.

With D(x) = sigmoid(l(x)), the value function of Goodfellow et al. 2014 (arXiv:1406.2661) is

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

and, since log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l), every loss
below is a softplus of logits. That form never takes the log of a rounded-off probability,
which is why we use it (or `binary_cross_entropy_with_logits`) instead of Sigmoid + BCELoss.

* `d_loss`: D maximises V, so it minimises -V (with optional one-sided label smoothing,
  Salimans et al. 2016, arXiv:1606.03498, sec. 3.4).
* `g_loss_minimax`: G minimises V's second term, E log(1 - D(G(z))). Its gradient vanishes
  when D confidently rejects fakes, i.e. early in training ("saturating").
* `g_loss_nonsaturating`: G maximises E log D(G(z)) instead (the "flipped labels" trick);
  same fixed point, strong gradients where the minimax form has none.

Two other games read D's output as a score, not the logit of a probability:

* hinge (Lim & Ye 2017, "Geometric GAN", arXiv:1705.02894; Miyato et al. 2018,
  arXiv:1802.05957): D minimises E relu(1 - l(x)) + E relu(1 + l(G(z))), so it stops pushing
  once a real scores above +1 and a fake below -1; G minimises -E l(G(z)).
* Wasserstein (Arjovsky, Chintala & Bottou 2017, arXiv:1701.07875): the critic maximises
  E l(x) - E l(G(z)), an estimate of the earth mover's distance only while l is 1-Lipschitz
  (weight clipping in the paper; a gradient penalty or spectral normalisation here, see
  `ganlib.penalties` and `ganlib.models`); G minimises -E l(G(z)).

AC-GAN (Odena, Olah & Shlens 2017, arXiv:1610.09585, eqs. 1-2) adds a class term to any game:
D's second head classifies every image, and with L_C = E log P(C = c | X_real) +
E log P(C = c | X_fake), D maximises L_S + L_C and G maximises L_C - L_S. As losses to
minimise: D's loss gains `ac_loss` on the reals plus `ac_loss` on the fakes, G's loss gains
`ac_loss` on the fakes (`ganlib.steps`, weighted by `FitConfig.ac_weight`).

`LOSSES` pairs each generator loss with its discriminator loss; `loss_pair(name)` picks one
(`FitConfig.g_loss` names it). The non-saturating and minimax generators play against the
same D, the one of `d_loss`.
"""

import torch.nn.functional as F


def value(real_logits, fake_logits):
    """V(D, G) estimated on a batch: E log D(x) + E log(1 - D(G(z))).
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def d_loss(real_logits, fake_logits, label_smoothing=0.0):
    """-V(D, G), with real targets 1 - label_smoothing (one-sided: fakes keep target 0).

    At D = 1/2 everywhere (all logits 0) this is 2 log 2.
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    real_target = real_logits.new_full(real_logits.shape, 1.0 - label_smoothing)
    loss_real = F.binary_cross_entropy_with_logits(real_logits, real_target)
    loss_fake = F.softplus(fake_logits).mean()  # = BCE with target 0
    return loss_real + loss_fake


def g_loss_minimax(fake_logits):
    """E log(1 - D(G(z))), the generator's term of V as written in the minimax game.
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits):
    """-E log D(G(z)): train G as if its fakes were labelled real.
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return F.softplus(-fake_logits).mean()


def d_loss_hinge(real_logits, fake_logits):
    """E relu(1 - l(x)) + E relu(1 + l(G(z))): 2 at l = 0, 0 once reals score >= 1 and
    fakes <= -1 (no gradient from samples beyond their margin).
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_loss_hinge(fake_logits):
    """-E l(G(z)): G raises its samples' scores, without a margin.
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return -fake_logits.mean()


def d_loss_wasserstein(real_logits, fake_logits):
    """E l(G(z)) - E l(x): minus the critic's estimate of the Wasserstein-1 distance.
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    return fake_logits.mean() - real_logits.mean()


def g_loss_wasserstein(fake_logits):
    """-E l(G(z)): the part of the critic's estimate that G can move.
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return -fake_logits.mean()


def ac_loss(class_logits, labels):
    """-E log P(C = y | x): the cross-entropy of AC-GAN's class head, log(n_classes) when all
    its logits are equal. class_logits (B, n_classes), labels (B,) -> 0-d tensor (a batch
    mean)."""
    return F.cross_entropy(class_logits.float(), labels)


# name -> (D's loss, G's loss). d_loss alone takes label_smoothing (a cross-entropy target).
LOSSES = {"nonsaturating": (d_loss, g_loss_nonsaturating), "minimax": (d_loss, g_loss_minimax),
          "hinge": (d_loss_hinge, g_loss_hinge),
          "wasserstein": (d_loss_wasserstein, g_loss_wasserstein)}
G_LOSSES = {name: pair[1] for name, pair in LOSSES.items()}


def loss_pair(name):
    """(D's loss, G's loss) of the game called `name`, one of `LOSSES`."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]


def g_loss(name):
    """The generator loss called `name` (a key of `LOSSES`)."""
    return loss_pair(name)[1]
