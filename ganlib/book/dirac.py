"""The Dirac-GAN: the smallest GAN that fails to converge, in closed form.

Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?",
arXiv:1801.04406, sec. 2.2. The data are one point, p_data = delta_0; the generator has one
parameter and outputs G = theta; the discriminator is linear with one parameter, its logit
l(x) = psi * x. The equilibrium is (theta, psi) = (0, 0): G on the data, and D, unable to
tell them apart, outputting logit 0 everywhere.

In ganlib's convention (`ganlib.losses`: a high logit means "real"), D sees the logit
l(0) = 0 on the real point and l(theta) = psi * theta on the fake one. Each player descends
its own loss: D the game's D loss plus gamma/2 * R1, where R1 = (dl/dx)^2 at the data = psi^2
(`ganlib.penalties.r1_penalty`); G the game's G loss. The vector field of simultaneous
gradient descent is v = (-dL_G/dtheta, -dL_D/dpsi); with sigma the logistic function and
t = psi * theta:

  minimax ("standard"):  L_D = softplus(0) + softplus(t),  L_G = -softplus(t)
                         v = (psi * sigma(t),  -theta * sigma(t) - gamma * psi)
  nonsaturating:         L_G = softplus(-t),  same D:  v = (psi * sigma(-t), -theta * sigma(t)
                         - gamma * psi)
  wasserstein:           L_D = t - 0,  L_G = -t:  v = (psi, -theta - gamma * psi)
  hinge:                 L_D = relu(1) + relu(1 + t),  L_G = -t:
                         v = (psi, -theta * [t > -1] - gamma * psi)

(using d softplus(u)/du = sigma(u)). Mescheder et al. write D's logit with the opposite sign,
psi -> -psi; their v = (-psi f'(theta psi), theta f'(theta psi)), f(t) = -log(1 + e^-t), is
the minimax line above after that substitution.

Why training fails here: at the equilibrium the Jacobian of v is [[0, c], [-c, -gamma]] with
c = sigma(0) = 1/2 (c = 1 for wasserstein and hinge). Without R1 (gamma = 0) its eigenvalues
are +-ic, purely imaginary: near (0, 0) the field only rotates. For the minimax game it
rotates everywhere: v is perpendicular to (theta, psi), so theta^2 + psi^2 is constant along
the continuous flow (the nonsaturating game loses it only slowly, at the rate
2 t tanh(t/2), quartic near 0). A simultaneous step moves along the tangent, off the circle:
near the equilibrium it multiplies the distance by |1 + i c lr| = sqrt(1 + c^2 lr^2) > 1, so
it spirals out, for every learning rate (exactly so for wasserstein, whose field is linear).
Alternating steps (D first, then G against the updated D, as `ganlib.train_step` does) keep
circling without getting closer. With gamma > 0 both eigenvalues have real part < 0, and
small enough steps of either kind converge.
"""

import torch

from ganlib.losses import loss_pair

GAMES = ("minimax", "standard", "nonsaturating", "hinge", "wasserstein")
MODES = ("simultaneous", "alternating")


def vector_field(theta, psi, loss="standard", r1=0.0, gp=0.0):
    """(d theta, d psi): minus each player's gradient of its own loss at (theta, psi), numbers
    or tensors of any (broadcastable) shape, as float64 tensors. loss: one of `GAMES`
    ("standard" is Mescheder et al.'s name for "minimax"); r1: R1's gamma (D's loss gains
    gamma/2 * psi^2); gp: WGAN-GP's lambda (Gulrajani et al. 2017: D's loss gains
    lambda * (|dl/dx| - 1)^2 = lambda * (|psi| - 1)^2, the same at every interpolate because
    D is linear). Mescheder et al. (sec. 3.3) show that WGAN-GP's equilibrium psi = 0 violates
    the penalty's |psi| = 1, so the penalty cannot make it converge."""
    if loss not in GAMES:
        raise ValueError(f"loss must be one of {GAMES}, got {loss!r}")
    theta = torch.as_tensor(theta, dtype=torch.float64)
    psi = torch.as_tensor(psi, dtype=torch.float64)
    t = psi * theta  # D's logit on the fake; on the real point it is 0
    if loss in ("minimax", "standard", "nonsaturating"):
        d_theta = psi * torch.sigmoid(-t if loss == "nonsaturating" else t)
        d_psi = -theta * torch.sigmoid(t)
    else:  # G's loss is -t in both; the hinge's D stops pushing once t <= -1
        d_theta = psi
        d_psi = -theta * ((t > -1).to(theta.dtype) if loss == "hinge" else 1.0)
    d_psi = d_psi - r1 * psi - gp * 2 * (psi.abs() - 1) * torch.sign(psi)
    return d_theta, d_psi


def trajectory(theta0, psi0, lr, steps, mode="simultaneous", r1=0.0, loss="standard",
               lr_d=None, gp=0.0, n_critic=1):
    """The (steps + 1, 2) float64 tensor of (theta, psi) from (theta0, psi0) under gradient
    descent with learning rate `lr`: "simultaneous" (both players step on the same point) or
    "alternating" (D's step first, then G's against the updated D, like `ganlib.train_step`).
    lr_d: D's own learning rate (TTUR, Heusel et al. 2017; default `lr`); gp: WGAN-GP's
    lambda; n_critic: D steps before each G step (alternating only). One row per G step."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n_critic < 1 or (n_critic > 1 and mode != "alternating"):
        raise ValueError(f"n_critic must be >= 1, and above 1 only with mode='alternating', "
                         f"got {n_critic} with mode={mode!r}")
    lr_d = lr if lr_d is None else lr_d
    field = lambda theta, psi: vector_field(theta, psi, loss, r1, gp)
    out = torch.empty(steps + 1, 2, dtype=torch.float64)
    theta, psi = float(theta0), float(psi0)
    out[0] = torch.tensor([theta, psi])
    for k in range(1, steps + 1):
        if mode == "simultaneous":
            d_theta, d_psi = field(theta, psi)
            theta, psi = theta + lr * d_theta.item(), psi + lr_d * d_psi.item()
        else:
            for _ in range(n_critic):
                psi = psi + lr_d * field(theta, psi)[1].item()
            theta = theta + lr * field(theta, psi)[0].item()
        out[k] = torch.tensor([theta, psi])
    return out


def ema_path(path, beta):
    """The exponential moving average of a trajectory's rows, path_bar[0] = path[0],
    path_bar[k] = beta * path_bar[k-1] + (1 - beta) * path[k]: where an EMA of G's weights
    (Yazici et al. 2019, arXiv:1806.04498; `ganlib.ema_update`) sits while the players circle.
    The G coordinate (theta) is what sampling uses; psi is averaged alongside for plotting."""
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    out = path.clone()
    for k in range(1, len(path)):
        out[k] = beta * out[k - 1] + (1 - beta) * path[k]
    return out


def game_losses(theta, psi, loss="standard"):
    """(L_D, L_G) of the Dirac game at (theta, psi), from `ganlib.losses` itself (no R1):
    what `vector_field` differentiates in closed form, for checking it with autograd."""
    d_fn, g_fn = loss_pair("minimax" if loss == "standard" else loss)
    fake_logit = (psi * theta).reshape(1)
    return d_fn(torch.zeros_like(fake_logit), fake_logit), g_fn(fake_logit)

