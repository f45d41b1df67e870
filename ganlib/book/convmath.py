"""Convolution arithmetic for the DCGAN chapter: what a transposed convolution is, and what
the generator computes, shown by computation rather than typed in.

* `conv_matrix`: a convolution is a matrix C acting on the flattened image; the transposed
  convolution (`nn.ConvTranspose2d`, DCGAN's up-sampling layer) is multiplication by C^T, the
  adjoint of that map, and also the gradient of the convolution with respect to its input
  (Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning",
  arXiv:1603.07285, sec. 4).
* `conv_out_size`, `transposed_out_size`: the two size formulas of that guide.
* `overlap_counts`: how many kernel taps land on each output pixel of a transposed
  convolution. When the kernel size is not a multiple of the stride the counts alternate, and
  so does the output's strength: the checkerboard of Odena, Dumoulin & Olah 2016,
  "Deconvolution and Checkerboard Artifacts", Distill. DCGAN's kernel 4, stride 2 is even.
* `shape_table`, `macs_per_image`: a model's per-layer output shapes and its cost per image.
"""

import torch
import torch.nn.functional as F


def conv_out_size(in_size, kernel, stride=1, padding=0):
    """Side of a convolution's output: floor((in + 2p - k) / s) + 1."""
    return (in_size + 2 * padding - kernel) // stride + 1


def transposed_out_size(in_size, kernel, stride=1, padding=0, output_padding=0):
    """Side of a transposed convolution's output: (in - 1) s - 2p + k + output_padding.

    With stride s, `conv_out_size` maps s input sizes to the same output size (the floor);
    output_padding (< s) picks which of them the transposed convolution returns."""
    return (in_size - 1) * stride - 2 * padding + kernel + output_padding


def conv_matrix(weight, in_size, stride=1, padding=0):
    """The matrix C (out_size^2, in_size^2) of a one-channel 2-D convolution with the k x k
    kernel `weight` (cross-correlation, as `F.conv2d` computes it) on an in_size x in_size
    image, with zero padding: C @ x.flatten() == F.conv2d(x, weight, ...).flatten().

    Row (i, j) holds the kernel, placed where output pixel (i, j) reads the input: output
    (i, j) = sum over a, b of w[a, b] * x[i s - p + a, j s - p + b]; taps that fall on the
    padding multiply zeros and leave no entry."""
    w = weight.reshape(weight.shape[-2:])
    k = w.shape[0]
    out = conv_out_size(in_size, k, stride, padding)
    C = w.new_zeros(out * out, in_size * in_size)
    oi, oj = torch.meshgrid(torch.arange(out), torch.arange(out), indexing="ij")
    rows = oi * out + oj  # (out, out): the row of C for each output pixel
    for a in range(k):
        for b in range(k):
            r, c = oi * stride - padding + a, oj * stride - padding + b
            inside = (r >= 0) & (r < in_size) & (c >= 0) & (c < in_size)
            C[rows[inside], (r * in_size + c)[inside]] = w[a, b]
    return C


def overlap_counts(kernel, stride, n_in, padding=0, dims=1):
    """How many input pixels contribute to each output pixel of a transposed convolution
    (kernel, stride, padding) of an n_in-long (dims=1) or n_in x n_in (dims=2) input: the
    transposed convolution of ones with a kernel of ones. Returns an int64 tensor.

    Away from the borders every output pixel gets k / s taps when s divides k; otherwise
    floor(k / s) and ceil(k / s) alternate (kernel 3, stride 2: ..., 1, 2, 1, 2, ...)."""
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[dims]
    ones = torch.ones((1, 1) + (n_in,) * dims, dtype=torch.float64)
    out = conv(ones, torch.ones((1, 1) + (kernel,) * dims, dtype=torch.float64),
               stride=stride, padding=padding)
    return out[0, 0].round().long()


def _eval_no_grad(model, x):
    """Run model(x) in eval mode (no BatchNorm statistics updated), restoring its mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)


def shape_table(model, x):
    """[(name, class name, shape)] of every leaf module's output when `model` runs on `x`
    (a batch), shapes without the batch dimension, in the order the layers ran. The first
    row, ("input", "", shape), is the input as the first layer receives it (DCGAN's generator
    views z (B, nz) as (B, nz, 1, 1)). Runs in eval mode under no_grad; changes nothing."""
    rows, handles = [], []

    def record(name):
        def hook(module, inputs, output):
            if not rows:
                rows.append(("input", "", tuple(inputs[0].shape[1:])))
            rows.append((name, type(module).__name__, tuple(output.shape[1:])))
        return hook

    for name, module in model.named_modules():
        if not any(module.children()):  # a leaf: a layer, not a container
            handles.append(module.register_forward_hook(record(name)))
    try:
        _eval_no_grad(model, x)
    finally:
        for h in handles:
            h.remove()
    return rows


def macs_per_image(model, input_shape):
    """Multiply-accumulates for one image of shape `input_shape` (no batch dimension), as
    counted by `torch.utils.flop_counter.FlopCounterMode` on a batch of one in eval mode.

    Convention: FlopCounterMode counts 2 FLOPs per multiply-add of its matrix products and
    convolutions, so MACs = FLOPs / 2. It counts only those: biases, BatchNorm and activations
    are left out, and a convolution's taps on padding count like the others."""
    from torch.utils.flop_counter import FlopCounterMode

    p = next(model.parameters(), None)
    x = torch.zeros(1, *input_shape, device=None if p is None else p.device)
    with FlopCounterMode(display=False) as counter:
        _eval_no_grad(model, x)
    return counter.get_total_flops() // 2
