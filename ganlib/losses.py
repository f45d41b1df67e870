"""GAN losses as small pure functions of D's logits l, D(x) = sigmoid(l(x)).

Goodfellow et al. 2014 (arXiv:1406.2661): V(D, G) = E log D(x) + E log(1 - D(G(z))). Since
log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l), every cross-entropy
loss below is a softplus of logits, which never takes the log of a rounded-off probability.
Hinge (Lim & Ye 2017, arXiv:1705.02894) and Wasserstein (Arjovsky et al. 2017,
arXiv:1701.07875) read l as a score, not a probability. The relativistic pairing loss (RpGAN:
Jolicoeur-Martineau 2019, arXiv:1807.00734; Huang et al. 2024, arXiv:2501.05441) judges each
fake against a real, l(G(z)) - l(x), so G's loss needs D's verdict on reals too
(`PAIRED`). AC-GAN's class term: Odena et al. 2017, arXiv:1610.09585. `LOSSES` pairs each G
loss with its D loss.
"""

import torch.nn.functional as F


def value(real_logits, fake_logits):
    """V(D, G) estimated on a batch: E log D(x) + E log(1 - D(G(z))).
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def d_loss(real_logits, fake_logits, label_smoothing=0.0):
    """-V(D, G): D maximises V, so it minimises this; 2 log 2 at D = 1/2 everywhere.
    label_smoothing: real targets 1 - s, fakes kept at 0 (one-sided; Salimans et al. 2016,
    arXiv:1606.03498, sec. 3.4).
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    real_target = real_logits.new_full(real_logits.shape, 1.0 - label_smoothing)
    loss_real = F.binary_cross_entropy_with_logits(real_logits, real_target)
    loss_fake = F.softplus(fake_logits).mean()  # = BCE with target 0
    return loss_real + loss_fake


def g_loss_minimax(fake_logits):
    """E log(1 - D(G(z))), the generator's term of V as written in the minimax game. Its
    gradient vanishes where D confidently rejects the fakes, early in training ("saturating").
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits):
    """-E log D(G(z)): train G as if its fakes were labelled real; the same fixed point as the
    minimax loss, with strong gradients where it has none.
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return F.softplus(-fake_logits).mean()


def d_loss_hinge(real_logits, fake_logits):
    """E relu(1 - l(x)) + E relu(1 + l(G(z))): 2 at l = 0, 0 once reals score >= 1 and
    fakes <= -1 (no gradient from samples beyond their margin).
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def d_loss_wasserstein(real_logits, fake_logits):
    """E l(G(z)) - E l(x): minus the critic's estimate of the Wasserstein-1 distance, an
    estimate only while l is 1-Lipschitz (a gradient penalty or spectral normalisation).
    real_logits (B,), fake_logits (B,) -> 0-d tensor (batch means)."""
    return fake_logits.mean() - real_logits.mean()


def g_loss_score(fake_logits):
    """-E l(G(z)): G raises its samples' scores, without a margin. G's loss in both the hinge
    and the Wasserstein game, which differ only in D's loss.
    fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return -fake_logits.mean()


g_loss_hinge = g_loss_wasserstein = g_loss_score  # one loss under its two games' names


def d_loss_relativistic(real_logits, fake_logits):
    """E softplus(l(G(z)) - l(x)), pairs (x_i, G(z_i)) taken in order: D raises each real's
    logit above its fake partner's. log 2 when they are equal; 0 as the margin grows. Shifting
    every logit by a constant changes nothing, so D has no "confident everywhere" solution.
    real_logits (B,), fake_logits (B,) -> 0-d tensor (a batch mean)."""
    return F.softplus(fake_logits - real_logits).mean()


def g_loss_relativistic(fake_logits, real_logits):
    """E softplus(l(x) - l(G(z))): G raises each fake's logit above its real partner's. D's
    verdict on the reals enters as a constant (G cannot move it) but sets where G's gradient
    saturates. fake_logits (B,), real_logits (B,) -> 0-d tensor (a batch mean)."""
    return F.softplus(real_logits - fake_logits).mean()


def ac_loss(class_logits, labels):
    """-E log P(C = y | x): the cross-entropy of AC-GAN's class head, log(n_classes) when all
    its logits are equal. D's loss gains it on reals and fakes, G's on fakes.
    class_logits (B, n_classes), labels (B,) -> 0-d tensor (a batch mean)."""
    return F.cross_entropy(class_logits.float(), labels)


# name -> (D's loss, G's loss). d_loss alone takes label_smoothing (a cross-entropy target).
LOSSES = {"nonsaturating": (d_loss, g_loss_nonsaturating), "minimax": (d_loss, g_loss_minimax),
          "hinge": (d_loss_hinge, g_loss_hinge),
          "wasserstein": (d_loss_wasserstein, g_loss_wasserstein),
          "relativistic": (d_loss_relativistic, g_loss_relativistic)}
PAIRED = frozenset({"relativistic"})  # games whose G loss is g(fake_logits, real_logits)
G_LOSSES = {name: pair[1] for name, pair in LOSSES.items()}


def loss_pair(name):
    """(D's loss, G's loss) of the game called `name`, one of `LOSSES`."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]


def g_loss(name):
    """The generator loss called `name` (a key of `LOSSES`)."""
    return loss_pair(name)[1]
