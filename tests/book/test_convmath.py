import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlib import DCGANGenerator, MLPGenerator
from ganlib.book.convmath import (
    conv_matrix,
    conv_out_size,
    macs_per_image,
    overlap_counts,
    shape_table,
    transposed_out_size,
)


def seeded(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0), (2, 1)])
def test_conv_matrix_is_the_convolution_and_its_transpose_the_transposed_convolution(stride,
                                                                                     padding):
    n, k = 4, 3
    w, x = seeded(1, 1, k, k, seed=1), seeded(1, 1, n, n, seed=2)
    C = conv_matrix(w, n, stride, padding)
    m = conv_out_size(n, k, stride, padding)
    assert C.shape == (m * m, n * n)
    y_conv = F.conv2d(x, w, stride=stride, padding=padding)
    assert torch.allclose(C @ x.flatten(), y_conv.flatten())
    # C^T y: the transposed convolution, with output_padding picking the 4x4 size among those
    # that a stride-2 convolution maps to the same m x m
    y = seeded(1, 1, m, m, seed=3)
    out_pad = n - transposed_out_size(m, k, stride, padding)
    assert 0 <= out_pad < stride
    up = nn.ConvTranspose2d(1, 1, k, stride, padding, output_padding=out_pad, bias=False).double()
    with torch.no_grad():
        up.weight.copy_(w)
        t = up(y)
    assert t.shape == (1, 1, n, n)
    assert torch.allclose(C.T @ y.flatten(), t.flatten())
    # the adjoint identity <Cx, y> = <x, C^T y>, with the library's own operators
    assert torch.allclose((y_conv * y).sum(), (x * t).sum())
    # and C^T is the gradient of the convolution with respect to its input
    xg = x.clone().requires_grad_(True)
    (F.conv2d(xg, w, stride=stride, padding=padding) * y).sum().backward()
    assert torch.allclose(xg.grad.flatten(), C.T @ y.flatten())


def test_transposed_out_size_matches_conv_transpose2d():
    for n, k, s, p in itertools.product((1, 2, 4, 5), (1, 3, 4), (1, 2, 3), (0, 1, 2)):
        for op in range(s):
            want = transposed_out_size(n, k, s, p, op)
            if want < 1:
                continue
            up = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op)
            assert up(torch.zeros(1, 1, n, n)).shape[-1] == want, (n, k, s, p, op)


def test_dcgan_up_sampling_doubles_the_side():
    assert transposed_out_size(1, 4, 1, 0) == 4  # z as 1x1 -> 4x4
    assert all(transposed_out_size(n, 4, 2, 1) == 2 * n for n in (4, 8, 16, 32, 64))


def test_kernel_3_stride_2_overlaps_unevenly_kernel_4_evenly():
    assert overlap_counts(3, 2, 4).tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]
    assert overlap_counts(4, 2, 4).tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]
    assert overlap_counts(4, 2, 4, padding=1).tolist() == [1, 2, 2, 2, 2, 2, 2, 1]  # DCGAN's
    c2 = overlap_counts(3, 2, 4, dims=2)
    assert torch.equal(c2, torch.outer(overlap_counts(3, 2, 4), overlap_counts(3, 2, 4)))
    assert c2[2:-2, 2:-2].unique().tolist() == [1, 2, 4]  # the checkerboard


def test_overlap_counts_are_even_in_the_interior_exactly_when_the_stride_divides_the_kernel():
    for k, s in itertools.product(range(1, 7), range(1, 4)):
        counts = overlap_counts(k, s, 12)
        assert counts.sum() == 12 * k  # every input pixel lands on k outputs
        interior = counts[k:-k].unique().tolist()
        assert interior == ([k // s] if k % s == 0 else [k // s, k // s + 1]), (k, s)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shape_table_of_the_dcgan_generator_goes_from_z_to_the_image(size):
    G = DCGANGenerator(nz=100, ngf=8, nc=3, image_size=size)
    G.train()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    table = shape_table(G, torch.randn(2, 100))
    assert table[0] == ("input", "", (100, 1, 1))
    assert table[1] == ("net.0", "ConvTranspose2d", (8 * size // 8, 4, 4))
    assert table[-1] == (f"net.{len(G.net) - 1}", "Tanh", (3, size, size))
    convs = [shape for _, kind, shape in table if kind == "ConvTranspose2d"]
    assert [s[-1] for s in convs] == [4 * 2 ** i for i in range(len(convs))]  # doubling
    # eval mode, hooks removed, no BatchNorm statistics touched
    assert G.training and not any(m._forward_hooks for m in G.modules())
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_shape_table_of_an_mlp():
    G = MLPGenerator(nz=4, hidden=(8,), img_shape=(1, 2, 3))
    assert shape_table(G, torch.zeros(1, 4)) == [
        ("input", "", (4,)), ("net.0", "Linear", (8,)), ("net.1", "LeakyReLU", (8,)),
        ("net.2", "Linear", (6,))]


def test_macs_of_a_linear_layer_and_of_convolutions_match_their_closed_forms():
    assert macs_per_image(nn.Linear(7, 5), (7,)) == 7 * 5  # the bias is not counted
    cin, cout, k, s, p, n = 3, 4, 3, 2, 1, 9
    m = conv_out_size(n, k, s, p)
    assert macs_per_image(nn.Conv2d(cin, cout, k, s, p), (cin, n, n)) == cout * m * m * cin * k * k
    # a transposed convolution: every input pixel meets the whole kernel once per channel pair
    up = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
    assert macs_per_image(up, (cin, n, n)) == cin * n * n * cout * 4 * 4


def test_macs_of_the_dcgan_generator_are_the_sum_over_its_layers():
    G = DCGANGenerator(nz=10, ngf=4, nc=3, image_size=32)
    want, side = 0, 1
    for layer in G.net:
        if isinstance(layer, nn.ConvTranspose2d):
            want += layer.in_channels * side * side * layer.out_channels * 16
            side = transposed_out_size(side, 4, layer.stride[0], layer.padding[0])
    assert side == 32 and macs_per_image(G, (10,)) == want
