"""Gradient penalties on D, as small pure functions of its input gradient (the direction G's
update follows): each returns the unweighted penalty, still attached to D's weights through
`autograd.grad(..., create_graph=True)`, so D's backward differentiates through it.

* `gradient_penalty`: WGAN-GP, Gulrajani et al. 2017, arXiv:1704.00028, eq. 3 (lambda = 10).
* `r1_penalty`: R1, Mescheder, Geiger & Nowozin 2018, arXiv:1801.04406, eq. 9 (D's loss gains
  gamma / 2 * R1); zero at the equilibrium, so it damps the rotation around it without moving
  it (`ganlib.book.dirac`).
* `r2_penalty`: R2, the same on the fakes (Mescheder et al. 2018, eq. 10); with R1 it makes
  the relativistic pairing game locally convergent (Huang et al. 2024, arXiv:2501.05441,
  sec. 2), where R1 alone lets G drift along directions D does not penalise.
All assume D(x_i) depends on x_i alone: no BatchNorm in D (`fit` refuses the combination).
"""

import torch


def _input_gradient(logits, x):
    """d(sum of logits)/dx, per sample, with the graph kept for a backward through it.
    Summing is exact here: logit i depends on sample i only (without BatchNorm)."""
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return grad.reshape(len(grad), -1)  # (B, numel of one sample)


def gradient_penalty(D, real, fake, generator=None):
    """E[(||grad D(x_hat)||_2 - 1)^2], x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1)
    per sample: the optimal Wasserstein critic has gradient norm 1 on the lines between real
    and generated points. eps comes from `generator` if given, else from torch's global
    generator on real's device (which `fit` checkpoints and restores). It trains D only.
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


def r2_penalty(fake_logits, fake):
    """E[||grad_x D(x)||^2] over the fake batch: `r1_penalty` at G's samples, made the same way
    (`fake` detached from G and requiring grad before D sees it, fake_logits = D(fake)). It
    trains D only. fake_logits (B,), fake (B, ...) -> a 0-d tensor."""
    return _input_gradient(fake_logits, fake).pow(2).sum(1).mean()
