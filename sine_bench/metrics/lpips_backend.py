"""The perceptual distance backend: real pretrained LPIPS, never a random network.

Preference order, both fully offline:

1. ``lpips[NET]``: the standard LPIPS (``lpips`` package), only when torchvision's
   ImageNet weights for NET are already in the local torch hub cache, so nothing is
   downloaded.
2. ``st_lpips[NET]``: shift-tolerant LPIPS (``stlpips-pytorch``, ECCV 2022), whose
   wheel ships both complete networks (backbone and linear heads): ``alex`` (9.9 MB,
   the default) and ``vgg`` (59 MB; finer early features, which is what sees a small
   object change shape in a 64 x 64 toy image, see the toy model card).

If neither is available ``load_lpips`` raises: a randomly initialised backbone would
produce plausible-looking numbers that measure nothing.

Inputs are float RGB in [0, 1], shape (B, 3, H, W); the backend maps them to [-1, 1]
itself. By default images are compared at their native size (right for 64 x 64 toy
images). ``resize=512`` reproduces the SINE paper's protocol (512 x 512, bicubic);
``resample`` picks the ``torch.nn.functional.interpolate`` mode.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError

NETS = ("alex", "vgg")  # torchvision ImageNet backbones (sine_bench.weights fetches them)


class LpipsUnavailableError(InputError):
    """No pretrained LPIPS network can be loaded offline."""


class LpipsMetric:
    """A callable perceptual distance with the name results report it under."""

    def __init__(
        self,
        net: torch.nn.Module,
        name: str,
        resize: int | None = None,
        resample: str = "bicubic",
        device: str = "cpu",
    ):
        self.net = net.to(device).eval()
        self.name = name
        self.resize = resize
        self.resample = resample
        self.device = device

    @torch.no_grad()
    def __call__(self, img_a: torch.Tensor, img_b: torch.Tensor) -> torch.Tensor:
        """Per-pair distance (B,) between two batches of [0, 1] images of equal size."""
        if img_a.shape != img_b.shape or img_a.ndim != 4 or img_a.shape[1] != 3:
            raise ValueError(
                f"need two (B, 3, H, W) batches of one shape, got "
                f"{tuple(img_a.shape)} and {tuple(img_b.shape)}"
            )
        a, b = (self._prepare(x) for x in (img_a, img_b))
        return self.net(a, b).reshape(a.shape[0])

    @torch.no_grad()
    def features(self, images01: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's activations at the layers LPIPS compares (its linear heads'
        inputs, before their unit normalisation), for [0, 1] images (B, 3, H, W): what
        the self-similarity structure distance reads."""
        x = self._prepare(images01)
        if getattr(self.net, "version", "0.1") == "0.1":  # as LPIPS.forward scales them
            x = self.net.scaling_layer(x)
        return list(self.net.net.forward(x))

    def _prepare(self, images01: torch.Tensor) -> torch.Tensor:
        x = images01.to(self.device).float()
        if self.resize is not None and x.shape[-2:] != (self.resize, self.resize):
            smooth = self.resample in ("bilinear", "bicubic")
            x = F.interpolate(
                x,
                size=(self.resize, self.resize),
                mode=self.resample,
                **({"align_corners": False, "antialias": True} if smooth else {}),
            )
        return x.clamp(0, 1) * 2 - 1


def backbone_weights_cached(net: str) -> bool:
    """Whether torchvision's ImageNet weights for ``net`` are in the local torch hub cache
    (``sine-bench fetch-weights`` puts them there)."""
    from .backbones import standard_weights_cached

    return standard_weights_cached("lpips", net)


def _standard_lpips(net: str) -> torch.nn.Module:
    import lpips

    return lpips.LPIPS(net=net, pretrained=True, pnet_rand=False, verbose=False)


def _shift_tolerant_lpips(net: str) -> torch.nn.Module:
    """stlpips' network with every weight checked as loaded from its shipped file.

    stlpips loads with ``strict=False``; verifying the keys here is what guarantees
    that no layer silently stays at its random initialisation.
    """
    try:
        from stlpips_pytorch import stlpips
    except ImportError as err:  # the package, or IPython / torchsummary it imports
        raise LpipsUnavailableError(
            f"stlpips-pytorch cannot be imported ({err}); install sine-bench's "
            "dependencies (stlpips-pytorch, ipython, torchsummary)"
        ) from err
    path = Path(stlpips.__file__).parent / "weights" / "vST0.0" / f"{net}_shift_tolerant.pth"
    if not path.is_file():
        raise LpipsUnavailableError(f"stlpips weights file is missing: {path}")
    model = stlpips.LPIPS(net=net, variant="shift_tolerant", pretrained=False, verbose=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = model.load_state_dict(state, strict=False).missing_keys
    # ``lins.i.*`` are the same modules as ``lin{i}.*`` (registered twice by stlpips).
    really_missing = [k for k in missing if not (k.startswith("lins.") and "lin" + k[5:] in state)]
    if really_missing:
        raise LpipsUnavailableError(f"stlpips weights lack {really_missing[:5]}")
    return model


def load_lpips_squeeze(device: str = "cpu") -> LpipsMetric:
    """Standard LPIPS on SqueezeNet 1.1 (PIE-Bench's): no shipped substitute exists, so
    torchvision's ImageNet weights must be cached (``sine-bench fetch-weights``)."""
    import dataclasses

    from ..weights import MissingWeightsError, fetch_command
    from .backbones import BACKBONES

    if not backbone_weights_cached("squeeze"):
        (weight,) = BACKBONES["lpips"].get("squeeze").weights
        weight = dataclasses.replace(weight, needed_by="lpips backbone squeeze")
        raise MissingWeightsError([weight], fetch_command(metrics=("lpips_bg_pie[squeeze]",)))
    return LpipsMetric(_standard_lpips("squeeze"), "lpips[squeeze]", device=device)


def load_lpips(
    net: str = "alex", resize: int | None = None, resample: str = "bicubic", device: str = "cpu"
) -> LpipsMetric:
    """The best pretrained LPIPS for ``net`` available offline (see module docstring)."""
    if net not in NETS:
        raise ValueError(f"LPIPS net must be one of {', '.join(NETS)}, got {net!r}")
    if backbone_weights_cached(net):
        return LpipsMetric(_standard_lpips(net), f"lpips[{net}]", resize, resample, device)
    return LpipsMetric(_shift_tolerant_lpips(net), f"st_lpips[{net}]", resize, resample, device)
