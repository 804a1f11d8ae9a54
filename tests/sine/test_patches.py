import pytest
import torch

from sine_bench.sine.patches import PatchSettings, crop_canvas, sample_crop_box, to_canvas


def test_crop_boxes_fit_are_aligned_and_cover_the_range():
    settings = PatchSettings(grid=32)
    g = torch.Generator().manual_seed(0)
    heights, widths = [], []
    for _ in range(2000):
        y0, x0, y1, x1 = box = sample_crop_box(settings, g)
        assert all(isinstance(v, int) for v in box)
        assert 0 <= y0 < y1 <= 32 and 0 <= x0 < x1 <= 32
        heights.append(y1 - y0)
        widths.append(x1 - x0)
    h = torch.tensor(heights, dtype=torch.float32)
    w = torch.tensor(widths, dtype=torch.float32)
    assert h.min() == 3 and w.min() == 3  # floor(0.1 * 32)
    assert h.max() >= 31 and w.max() >= 31
    # sides ~ U[0.1, 1) of G: mean about 0.55 G; independent of each other
    assert abs(h.mean().item() / 32 - 0.535) < 0.03
    assert abs(torch.corrcoef(torch.stack([h, w]))[0, 1].item()) < 0.1


def test_same_generator_seed_same_boxes():
    s = PatchSettings(grid=16)
    a = [sample_crop_box(s, torch.Generator().manual_seed(3)) for _ in range(3)]
    b = [sample_crop_box(s, torch.Generator().manual_seed(3)) for _ in range(3)]
    assert a == b


def test_canvas_and_crop_sizes():
    image = torch.rand(3, 30, 50) * 2 - 1
    canvas = to_canvas(image, grid=16, cell_px=4)
    assert canvas.shape == (3, 64, 64)
    crop = crop_canvas(canvas, (2, 3, 6, 15), cell_px=4, out_size=(64, 64))
    assert crop.shape == (3, 64, 64)
    assert crop.min() >= -1 and crop.max() <= 1


def test_bad_settings():
    with pytest.raises(ValueError, match="fractions"):
        PatchSettings(grid=8, min_frac=0.0)


def _fine_texture(side: int = 2048) -> torch.Tensor:
    """A (3, side, side) diagonal grating with periods of 2.3 and 2.9 px: far above the
    Nyquist limit of any downscale by 4, so a correct resize leaves flat grey."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    grating = 0.9 * torch.sin(2 * torch.pi * (xx / 2.3 + yy / 2.9))
    return grating[None].repeat(3, 1, 1)


def test_downscales_of_a_photo_are_antialiased():
    """A 2048 px photo with fine texture, resized to SD's 512 (full-image fine-tune), to a
    512 px patch canvas and from a big crop of that canvas: plain bicubic keeps a std of
    0.17 (moire); antialiased it is PIL-like (PIL gives 0.004 on this texture)."""
    import torch.nn.functional as F

    from sine_bench.sine.patches import resize_image

    photo = _fine_texture()
    aliased = F.interpolate(photo[None], size=(512, 512), mode="bicubic")[0]
    assert aliased.std() > 0.1  # the failure this guards against is real
    assert resize_image(photo, (512, 512)).std() < 0.01
    canvas = to_canvas(photo, grid=64, cell_px=8)
    assert canvas.shape == (3, 512, 512) and canvas.std() < 0.01
    wide = crop_canvas(_fine_texture(512), (0, 0, 64, 64), 8, (128, 96))
    assert wide.std() < 0.01


def test_upscales_stay_plain_bicubic():
    """Upscaling keeps the original kernel: toy-sized sources train exactly as before."""
    import torch.nn.functional as F

    from sine_bench.sine.patches import resize_image

    small = torch.rand(3, 16, 24) * 2 - 1
    plain = F.interpolate(small[None], size=(32, 48), mode="bicubic", align_corners=False)
    assert torch.equal(resize_image(small, (32, 48)), plain[0].clamp(-1, 1))
