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

Discrete steps are judged by the map they iterate, not by the field (Mescheder et al. 2017,
arXiv:1705.10461; 2018, sec. 2.3): a step (theta, psi) -> F(theta, psi) converges near the
equilibrium when every eigenvalue of F's Jacobian there lies inside the unit circle
(`update_eigenvalues`). For simultaneous steps F = I + lr * v, so its eigenvalues are
1 + lr * (those of v's Jacobian): 1 +- i c lr without R1, of modulus > 1. Alternating steps
give a map of determinant 1 without R1: both eigenvalues on the unit circle, a closed orbit.

Instance noise (Sonderby et al. 2016, arXiv:1610.04490; Arjovsky & Bottou 2017) adds
N(0, sigma^2) to both the real and the fake point before D sees them; `vector_field`'s `noise`
takes the expectation over it (Gauss-Hermite quadrature). Near the equilibrium of the
cross-entropy games it adds -sigma^2 / 2 * psi to D's component, R1's term with
gamma = sigma^2 / 2 (Mescheder et al. 2018, sec. 3.1), which is why it converges while sigma
stays on and not after it is annealed away.
"""

import numpy as np
import torch

from ganlib.losses import loss_pair

GAMES = ("minimax", "standard", "nonsaturating", "hinge", "wasserstein")
MODES = ("simultaneous", "alternating")
NOISE_NODES = 40  # Gauss-Hermite nodes for the expectation over instance noise


def vector_field(theta, psi, loss="standard", r1=0.0, gp=0.0, noise=0.0):
    """(d theta, d psi): minus each player's gradient of its own loss at (theta, psi), numbers
    or tensors of any (broadcastable) shape, as float64 tensors. loss: one of `GAMES`
    ("standard" is Mescheder et al.'s name for "minimax"); r1: R1's gamma (D's loss gains
    gamma/2 * psi^2); gp: WGAN-GP's lambda (Gulrajani et al. 2017: D's loss gains
    lambda * (|dl/dx| - 1)^2 = lambda * (|psi| - 1)^2, the same at every interpolate because
    D is linear). Mescheder et al. (sec. 3.3) show that WGAN-GP's equilibrium psi = 0 violates
    the penalty's |psi| = 1, so the penalty cannot make it converge. noise: instance noise's
    sigma, both points seen as x + N(0, sigma^2) (the cross-entropy games only; the field is
    its expectation)."""
    if loss not in GAMES:
        raise ValueError(f"loss must be one of {GAMES}, got {loss!r}")
    if noise and loss in ("hinge", "wasserstein"):
        raise ValueError(f"instance noise is modelled for the cross-entropy games only "
                         f"('standard', 'minimax', 'nonsaturating'), got loss={loss!r}")
    theta = torch.as_tensor(theta, dtype=torch.float64)
    psi = torch.as_tensor(psi, dtype=torch.float64)
    t = psi * theta  # D's logit on the fake; on the real point it is 0
    if noise:
        nodes, weights = _gauss_hermite(noise)  # E f(eps) = sum of weights * f(nodes)
        e = nodes.reshape((-1,) + (1,) * theta.dim())  # broadcast over theta's shape
        w = weights.reshape(e.shape)
        x = theta + e  # the fake point as D sees it; the real one is e
        sign = -1.0 if loss == "nonsaturating" else 1.0
        d_theta = (w * psi * torch.sigmoid(sign * psi * x)).sum(0)
        d_psi = (w * (e * torch.sigmoid(-psi * e) - x * torch.sigmoid(psi * x))).sum(0)
    elif loss in ("minimax", "standard", "nonsaturating"):
        d_theta = psi * torch.sigmoid(-t if loss == "nonsaturating" else t)
        d_psi = -theta * torch.sigmoid(t)
    else:  # G's loss is -t in both; the hinge's D stops pushing once t <= -1
        d_theta = psi
        d_psi = -theta * ((t > -1).to(theta.dtype) if loss == "hinge" else 1.0)
    d_psi = d_psi - r1 * psi - gp * 2 * (psi.abs() - 1) * torch.sign(psi)
    return d_theta, d_psi


def _gauss_hermite(sigma, n=NOISE_NODES):
    """Nodes and weights (float64 tensors) with sum(w * f(nodes)) = E f(eps), eps ~ N(0,
    sigma^2), exact for polynomials of degree < 2n."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)  # weight exp(-x^2 / 2)
    return (torch.tensor(nodes * sigma), torch.tensor(weights / np.sqrt(2 * np.pi)))


def step(theta, psi, lr, mode="simultaneous", lr_d=None, n_critic=1, **game):
    """One G step of gradient descent from (theta, psi), 0-d float64 tensors (differentiable,
    for `update_jacobian`): "simultaneous" (both players step from the same point) or
    "alternating" (n_critic D steps first, then G's against the updated D, like
    `ganlib.train_step`). lr_d: D's own learning rate (TTUR; default lr); game: the
    keywords of `vector_field` (loss, r1, gp, noise)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n_critic < 1 or (n_critic > 1 and mode != "alternating"):
        raise ValueError(f"n_critic must be >= 1, and above 1 only with mode='alternating', "
                         f"got {n_critic} with mode={mode!r}")
    lr_d = lr if lr_d is None else lr_d
    if mode == "simultaneous":
        d_theta, d_psi = vector_field(theta, psi, **game)
        return theta + lr * d_theta, psi + lr_d * d_psi
    for _ in range(n_critic):
        psi = psi + lr_d * vector_field(theta, psi, **game)[1]
    return theta + lr * vector_field(theta, psi, **game)[0], psi


def trajectory(theta0, psi0, lr, steps, mode="simultaneous", r1=0.0, loss="standard",
               lr_d=None, gp=0.0, n_critic=1, noise=0.0, noise_steps=None):
    """The (steps + 1, 2) float64 tensor of (theta, psi) from (theta0, psi0) under `step`
    with learning rate `lr`, one row per G step. lr_d: D's own learning rate (TTUR, Heusel et
    al. 2017; default `lr`); gp: WGAN-GP's lambda; n_critic: D steps before each G step
    (alternating only); noise: instance noise's sigma, annealed linearly to 0 over
    `noise_steps` steps (None: held constant)."""
    out = torch.empty(steps + 1, 2, dtype=torch.float64)
    theta, psi = torch.tensor(float(theta0), dtype=torch.float64), torch.tensor(
        float(psi0), dtype=torch.float64)
    out[0] = torch.stack([theta, psi])
    for k in range(1, steps + 1):
        sigma = noise if noise_steps is None else noise * max(0.0, 1 - (k - 1) / noise_steps)
        theta, psi = step(theta, psi, lr, mode, lr_d, n_critic, loss=loss, r1=r1, gp=gp,
                          noise=sigma)
        out[k] = torch.stack([theta, psi])
    return out


def update_jacobian(lr, mode="simultaneous", at=(0.0, 0.0), lr_d=None, n_critic=1, **game):
    """The 2 x 2 Jacobian of one `step` at the point `at` (the equilibrium by default), by
    autograd in float64: d(theta', psi') / d(theta, psi)."""
    def one_step(point):
        return torch.stack(step(point[0], point[1], lr, mode, lr_d, n_critic, **game))
    return torch.autograd.functional.jacobian(one_step, torch.tensor(at, dtype=torch.float64))


def update_eigenvalues(lr, mode="simultaneous", **kw):
    """The eigenvalues (complex) of `update_jacobian`: all of modulus < 1 means the steps
    converge to the equilibrium from near enough; a modulus > 1, they leave it; = 1, they
    circle it (Mescheder et al. 2017, arXiv:1705.10461, prop. 3)."""
    return torch.linalg.eigvals(update_jacobian(lr, mode, **kw))


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

