"""The controlled degradations of chapter 4 (Measuring a GAN): exact effects, shapes, errors."""

import pytest
import torch

from ganlib.book import degrade
from ganlib.data import ImageData


def images(n=12, c=1, side=8, seed=0):
    return torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def test_blur_keeps_a_constant_image_and_smooths_an_edge():
    flat = torch.full((2, 3, 9, 9), 77, dtype=torch.uint8)
    assert torch.equal(degrade.blur(flat, 1.0), flat)
    edge = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    edge[..., 5:] = 255
    out = degrade.blur(edge, 1.0)
    assert out.dtype == torch.uint8 and out.shape == edge.shape
    assert 0 < out[0, 0, 4, 3] < out[0, 0, 4, 4] < out[0, 0, 4, 5] < 255  # a ramp, not a step
    with pytest.raises(ValueError, match="sigma must be > 0 pixels"):
        degrade.blur(edge, 0)


def test_add_noise_has_the_asked_std_and_is_seeded():
    x = torch.full((200, 1, 16, 16), 128, dtype=torch.uint8)
    y = degrade.add_noise(x, 0.1, seed=3)
    assert abs((y.float() - 128).std().item() - 25.5) < 0.5
    assert torch.equal(y, degrade.add_noise(x, 0.1, seed=3))
    assert not torch.equal(y, degrade.add_noise(x, 0.1, seed=4))
    assert torch.equal(degrade.add_noise(x, 0.0), x)
    with pytest.raises(ValueError, match="expected uint8 images"):
        degrade.add_noise(x.float(), 0.1)


def test_keep_classes_draws_only_those_classes():
    data = ImageData(images(100), torch.arange(100) % 10, "test")
    out = degrade.keep_classes(data, range(5), n=40, seed=1)
    kept = [i for i in range(100) if any(torch.equal(data.images[i], x) for x in out)]
    assert len(out) == 40 and all(i % 10 < 5 for i in kept) and len(kept) == 40
    with pytest.raises(ValueError, match=r"classes \[0\] have 10 images, fewer than n=11"):
        degrade.keep_classes(data, [0], n=11)


def test_repeat_few_has_exactly_k_distinct_images():
    x = images(10)
    out = degrade.repeat_few(x, k=3, n=10)
    assert out.shape == (10, 1, 8, 8) and len({tuple(im.flatten().tolist()) for im in out}) == 3
    assert torch.equal(out[3], x[0]) and torch.equal(out[9], x[0])
    with pytest.raises(ValueError, match="k must be 1..10"):
        degrade.repeat_few(x, k=11, n=20)


def test_shuffle_pixels_keeps_each_images_histogram():
    x = images(5, c=3)
    y = degrade.shuffle_pixels(x, seed=2)
    assert not torch.equal(x, y)
    for a, b in zip(x, y):
        assert torch.equal(a.flatten(1).sort(1).values, b.flatten(1).sort(1).values)
        # channels move together: the (r, g, b) triples are the same multiset
        assert sorted(map(tuple, a.flatten(1).T.tolist())) == sorted(map(tuple,
                                                                        b.flatten(1).T.tolist()))


def test_mix_in_replaces_exactly_the_fraction():
    x, junk = images(20), images(20, seed=9)
    out = degrade.mix_in(x, junk, 0.25, seed=0)
    swapped = [i for i in range(20) if not torch.equal(out[i], x[i])]
    assert len(swapped) == 5 and all(torch.equal(out[i], junk[i]) for i in swapped)
    with pytest.raises(ValueError, match="fraction must be in"):
        degrade.mix_in(x, junk, 1.5)
    with pytest.raises(ValueError, match="junk must have the images' shape"):
        degrade.mix_in(x, junk[:3], 0.5)
