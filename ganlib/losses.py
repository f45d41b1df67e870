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
"""

import torch.nn.functional as F


def value(real_logits, fake_logits):
    """V(D, G) estimated on a batch: E log D(x) + E log(1 - D(G(z)))."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def d_loss(real_logits, fake_logits, label_smoothing=0.0):
    """-V(D, G), with real targets 1 - label_smoothing (one-sided: fakes keep target 0).

    At D = 1/2 everywhere (all logits 0) this is 2 log 2."""
    real_target = real_logits.new_full(real_logits.shape, 1.0 - label_smoothing)
    loss_real = F.binary_cross_entropy_with_logits(real_logits, real_target)
    loss_fake = F.softplus(fake_logits).mean()  # = BCE with target 0
    return loss_real + loss_fake


def g_loss_minimax(fake_logits):
    """E log(1 - D(G(z))), the generator's term of V as written in the minimax game."""
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits):
    """-E log D(G(z)): train G as if its fakes were labelled real."""
    return F.softplus(-fake_logits).mean()


G_LOSSES = {"minimax": g_loss_minimax, "nonsaturating": g_loss_nonsaturating}


def g_loss(name):
    """The generator loss called `name` ('minimax' or 'nonsaturating')."""
    if name not in G_LOSSES:
        raise ValueError(f"generator loss must be one of {sorted(G_LOSSES)}, got {name!r}")
    return G_LOSSES[name]
