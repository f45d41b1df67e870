"""What `fit` keeps of the models at each snapshot, for plots and the scrubbing widget.

A snapshot function takes (G, D, fixed_noise) and returns a dict of CPU tensors. `fit` calls
it with both models in eval mode and under `torch.no_grad()`, every `snapshot_every` steps.

* `default_snapshot`: G's samples on the fixed noise (images as uint8, 4x smaller).
* `gan_lab_snapshot(...)`: for 1-D and 2-D toys, also D's output on a grid (the heatmap of
  GAN Lab, arXiv:1809.01587) and the gradient field that the generator's loss induces on
  generated points, i.e. the direction each sample is pushed.
"""

import torch

from .losses import g_loss as get_g_loss


def default_snapshot(G, D, fixed_noise):
    """G(fixed_noise): images as uint8 (N, C, H, W), anything else as float on the CPU."""
    x = G(fixed_noise).float().cpu()
    if x.dim() == 4:
        x = x.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return {"samples": x}


def gan_lab_snapshot(lim=1.2, resolution=48, arrows=12, g_loss="nonsaturating"):
    """A snapshot function for toy GANs on [-lim, lim]^dim.

    Keeps: samples (N, dim); grid (M, dim) and d = sigmoid(D(grid)) (M,); for 2-D also
    field_at (arrows^2, 2) and field, the negative gradient of the generator loss with respect
    to a sample placed there: where gradient descent on G's loss moves generated points."""
    loss_fn = get_g_loss(g_loss)

    def snapshot(G, D, fixed_noise):
        device = fixed_noise.device
        samples = G(fixed_noise).float()
        dim = samples.shape[1]
        ticks = torch.linspace(-lim, lim, resolution, device=device)
        grid = ticks.unsqueeze(1) if dim == 1 else torch.cartesian_prod(ticks, ticks).flip(1)
        out = {"samples": samples.cpu(), "grid": grid.cpu(),
               "d": torch.sigmoid(D(grid).float()).cpu()}
        if dim == 2:
            t = torch.linspace(-lim, lim, arrows + 2, device=device)[1:-1]
            at = torch.cartesian_prod(t, t).requires_grad_(True)
            with torch.enable_grad():
                # the per-point loss, summed: its gradient at each point is that point's own
                (grad,) = torch.autograd.grad(loss_fn(D(at).float()) * len(at), at)
            out["field_at"], out["field"] = at.detach().cpu(), (-grad).cpu()
        return out

    return snapshot
