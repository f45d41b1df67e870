import math

import pytest
import torch

from ganlib import losses


def test_d_loss_at_half_is_2_log_2():
    zeros = torch.zeros(10)  # logit 0 <=> D = 1/2
    assert losses.d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert losses.value(zeros, zeros).item() == pytest.approx(-math.log(4))


def test_losses_match_their_probability_forms():
    l = torch.linspace(-4, 4, 9)
    d = torch.sigmoid(l)
    assert torch.allclose(losses.g_loss_minimax(l), torch.log(1 - d).mean())
    assert torch.allclose(losses.g_loss_nonsaturating(l), -torch.log(d).mean())
    real, fake = l, l.flip(0)
    v = torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(losses.value(real, fake), v)
    assert torch.allclose(losses.d_loss(real, fake), -v)


def test_one_sided_label_smoothing():
    real, fake = torch.full((4,), 1.5), torch.full((4,), -0.5)
    s = 0.1
    dr, df = torch.sigmoid(real), torch.sigmoid(fake)
    want = -((1 - s) * torch.log(dr) + s * torch.log(1 - dr)).mean() - torch.log(1 - df).mean()
    assert torch.allclose(losses.d_loss(real, fake, label_smoothing=s), want)


def test_losses_stay_finite_for_confident_logits():
    big = torch.tensor([-100.0, 100.0])
    for v in (losses.d_loss(big, big), losses.g_loss_minimax(big), losses.g_loss_nonsaturating(big)):
        assert torch.isfinite(v)


def test_minimax_saturates_where_nonsaturating_does_not():
    # D confidently rejects the fake (D(G(z)) ~ 1e-4): the minimax gradient nearly vanishes
    l = torch.tensor([-9.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(losses.g_loss_minimax(l), l)
    (g_ns,) = torch.autograd.grad(losses.g_loss_nonsaturating(l), l)
    assert abs(g_mm.item()) < 1e-3 and abs(g_ns.item()) > 0.99


def test_g_loss_lookup():
    assert losses.g_loss("minimax") is losses.g_loss_minimax
    with pytest.raises(ValueError, match="nonsaturating"):
        losses.g_loss("wasserstein")
