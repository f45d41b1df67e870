"""Gradient penalties on the discriminator, as small pure functions.

Both penalise the gradient of D's logit with respect to its *input*, which is what G's update
follows; a D whose input gradients are tame gives G directions that point somewhere useful.

* `gradient_penalty` (WGAN-GP; Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017,
  "Improved Training of Wasserstein GANs", arXiv:1704.00028, eq. 3): the optimal Wasserstein
  critic has gradient norm 1 almost everywhere on the lines between real and generated points,
  so the penalty is E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps * x + (1 - eps) * G(z),
  eps ~ U(0, 1) per sample. The paper weights it by lambda = 10 (`FitConfig.gp_weight`).
* `r1_penalty` (Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
  Converge?", arXiv:1801.04406, eq. 9): E[||grad_x D(x)||^2] on real data only. At the
  equilibrium (p_g = p_data, D constant) it vanishes, so unlike the GP it does not move the
  equilibrium; it damps the rotation around it that makes plain GAN training oscillate (see
  `ganlib.dirac`). D's loss gains gamma/2 * R1 (`FitConfig.r1_weight` is gamma).

Both return the unweighted penalty, a 0-d tensor that is still attached to D's weights:
`torch.autograd.grad(..., create_graph=True)` keeps the graph of the input gradient, so
adding the penalty to D's loss and calling backward() differentiates through it (a second
order, "double backward" pass).

With BatchNorm in D, D(x_i) depends on the whole batch, so grad_x D at one sample is no
longer that sample's own gradient; Gulrajani et al. drop BatchNorm from the critic for this
reason (spectral normalisation, `DCGANDiscriminator(spectral_norm=True)`, has none).
"""

import torch


def _input_gradient(logits, x):
    """d(sum of logits)/dx, per sample, with the graph kept for a backward through it.
    Summing is exact here: logit i depends on sample i only (without BatchNorm)."""
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return grad.reshape(len(grad), -1)  # (B, numel of one sample)


def gradient_penalty(D, real, fake, generator=None):
    """E[(||grad D(x_hat)||_2 - 1)^2], x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1)
    per sample (drawn from `generator` if given, else torch's global generator on real's
    device, which `fit` seeds and checkpoints). `fake` should be detached: the penalty trains
    D only. Unweighted; differentiable with respect to D's weights.
    real, fake (B, ...) (images (B, C, H, W) or points (B, dim)); D(x) -> logits (B,);
    returns a 0-d tensor."""
    shape = (len(real),) + (1,) * (real.dim() - 1)  # one eps per sample, broadcast
    if generator is None:
        eps = torch.rand(shape, device=real.device, dtype=real.dtype)
    else:
        eps = torch.rand(shape, generator=generator, device=generator.device)
        eps = eps.to(real.device, real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    norm = _input_gradient(D(x_hat), x_hat).norm(2, dim=1)  # (B,)
    return ((norm - 1) ** 2).mean()


def r1_penalty(real_logits, real):
    """E[||grad_x D(x)||^2] over the real batch. The caller makes the graph: `real` must
    require grad *before* D sees it, and `real_logits` = D(real), e.g.

        real = real.detach().requires_grad_(True)
        real_logits = D(real)
        loss = d_loss(real_logits, fake_logits) + gamma / 2 * r1_penalty(real_logits, real)

    Unweighted (the gamma / 2 is the caller's); differentiable with respect to D's weights.
    real_logits (B,), real (B, ...) -> a 0-d tensor."""
    return _input_gradient(real_logits, real).pow(2).sum(1).mean()
