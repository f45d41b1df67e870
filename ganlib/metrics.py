"""Sample-quality measures.

* `toy_mode_coverage`: for mixtures of Gaussians (the ring and the grid), how many modes the
  generator hits and what fraction of its samples are "high quality", i.e. within 3 standard
  deviations of some mode: the measure of Srivastava et al. 2017 (VEEGAN, arXiv:1705.07761)
  and Metz et al. 2017 (Unrolled GANs, arXiv:1611.02163).
"""

import torch


def toy_mode_coverage(samples, centres, std, min_share=0.01):
    """Mode coverage of 2-D `samples` (N, 2) for a mixture with `centres` (K, 2) and `std`.

    A sample is high quality if it lies within 3 std of its nearest centre; a mode is covered
    if at least `min_share` of all samples are high-quality samples of that mode.
    Returns dict(modes=K, covered=int, high_quality=float, counts=list of K ints)."""
    samples, centres = torch.as_tensor(samples).float(), torch.as_tensor(centres).float()
    dist = torch.cdist(samples, centres)  # (N, K)
    nearest_d, nearest = dist.min(1)
    good = nearest_d < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    covered = int((counts >= min_share * len(samples)).sum())
    return {"modes": len(centres), "covered": covered,
            "high_quality": good.float().mean().item(), "counts": counts.tolist()}
