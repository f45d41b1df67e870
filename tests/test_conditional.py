"""The conditional models (ganlib.conditional): shapes, labels checked with clear messages,
class balance by construction, and the projection discriminator's closed form."""

import pytest
import torch

from ganlib.conditional import (ACGANMLPDiscriminator, ConcatMLPDiscriminator,
                                ConditionalMLPGenerator, ProjectionMLPDiscriminator,
                                balanced_labels, check_labels)

SMALL = dict(img_shape=(1, 8, 8), n_classes=4)


def small_g(**kw):
    return ConditionalMLPGenerator(nz=6, hidden=(16,), embed_dim=3, **SMALL, **kw)


@pytest.mark.parametrize("D_cls", [ConcatMLPDiscriminator, ProjectionMLPDiscriminator,
                                   ACGANMLPDiscriminator])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_shapes_of_every_pair(D_cls, spectral_norm):
    torch.manual_seed(0)
    G, D = small_g(), D_cls(hidden=(16, 8), spectral_norm=spectral_norm, **SMALL)
    y = torch.tensor([0, 1, 2, 3, 3])
    x = G(torch.randn(5, 6), y)
    assert x.shape == (5, 1, 8, 8) and x.abs().max() <= 1
    assert D(x, y).shape == (5,)
    if D_cls is ACGANMLPDiscriminator:
        D.eval()  # no dropout, no power iteration: the same input gives the same logits
        logit, classes = D.forward_with_classes(x)
        assert logit.shape == (5,) and classes.shape == (5, 4)
        assert torch.equal(logit, D(x))  # the label is not an input of AC-GAN's D


def test_sample_draws_every_class_equally_and_is_seeded():
    G = small_g()
    assert balanced_labels(10, 4).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    a, b = G.sample(8, seed=3), G.sample(8, seed=3)
    assert torch.equal(a, b) and a.shape == (8, 1, 8, 8)
    # the same noise with other labels gives other images: the label is used
    assert not torch.equal(G.sample(8, y=torch.zeros(8, dtype=torch.long), seed=3), a)


def test_the_label_changes_the_projection_logit_by_the_embedding_difference():
    torch.manual_seed(0)
    D = ProjectionMLPDiscriminator(hidden=(16, 8), dropout=0.0, **SMALL).eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        h = D.phi(x)
        diff = D(x, torch.tensor([1, 1, 1])) - D(x, torch.tensor([2, 2, 2]))
        expected = ((D.embed.weight[1] - D.embed.weight[2]) * h).sum(1)
    assert torch.allclose(diff, expected, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (torch.tensor([0, 4]), r"labels must be in \[0, 3\] for a model of 4 classes; got \[4\]"),
    (torch.tensor([-1, 2]), r"got \[-1\]"),
    (torch.tensor([0.0, 1.0]), "integers in \\[0, 3\\].*not one-hot"),
    (torch.zeros(2, 4, dtype=torch.long), r"shape \(B,\)"),
    (torch.tensor([0, 1, 2]), "3 labels for 2 images"),
])
def test_bad_labels_are_refused_with_the_allowed_range(bad, message):
    G = small_g()
    with pytest.raises(ValueError, match=message):
        G(torch.randn(2, 6), bad)
    D = ConcatMLPDiscriminator(hidden=(8,), **SMALL)
    with pytest.raises(ValueError, match=message):
        D(torch.randn(2, 1, 8, 8), bad)


def test_sample_refuses_a_label_outside_the_classes():
    with pytest.raises(ValueError, match=r"\[0, 3\].*got \[7\]"):
        small_g().sample(2, y=[7, 0])
    assert check_labels([0, 3], 4).dtype == torch.long
