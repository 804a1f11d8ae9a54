"""Source images as cameras and editors write them: orientation, bit depth, palettes,
CMYK, transparency, and sizes the decoder or the metrics cannot take."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from sine_bench import images
from sine_bench.images import ImageInputError, image_size, load_image, open_image


def _halves(h: int = 40, w: int = 80) -> np.ndarray:
    """Left half red, right half blue (stored pixels)."""
    array = np.zeros((h, w, 3), dtype=np.uint8)
    array[:, : w // 2, 0] = 255
    array[:, w // 2 :, 2] = 255
    return array


def test_exif_orientation_is_applied_to_pixels_and_size(tmp_path):
    stored = Image.fromarray(_halves())
    exif = stored.getexif()
    exif[images.ORIENTATION_TAG] = 6  # "rotate 90 CW to display": a phone held upright
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    assert image_size(path) == (80, 40)  # shown portrait: taller than wide
    loaded = load_image(path)
    assert loaded.shape == (3, 80, 40)
    # displayed upright, the red half is on top and the blue half below
    red_top = loaded[0, :40].mean() > 0.8 and loaded[2, :40].mean() < -0.8
    blue_bottom = loaded[2, 40:].mean() > 0.8 and loaded[0, 40:].mean() < -0.8
    assert red_top and blue_bottom
    assert open_image(path)[1] == ["EXIF orientation 6 applied"]


def test_sixteen_bit_greyscale_is_scaled_not_clipped_to_white(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I;16")
    loaded = load_image(path)
    expected = np.round(ramp / 257.0) / 127.5 - 1.0
    assert np.allclose(loaded[0].numpy(), expected, atol=1e-6)
    assert abs(float(loaded.mean())) < 0.01  # a ramp averages mid-grey, not white
    assert "16-bit greyscale scaled to 8 bits" in open_image(path)[1]


def test_transparency_is_composited_on_white_with_a_note(tmp_path):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:16, :, 3] = 255  # top half opaque red, bottom half fully transparent
    rgba[16:24, :, 3] = 128  # a half-transparent band in between
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    img, notes = open_image(path)
    array = np.asarray(img)
    assert (array[:16] == (255, 0, 0)).all()
    assert (array[24:] == (255, 255, 255)).all()
    assert np.allclose(array[16:24, :, 1], 127, atol=1)  # half red, half white
    assert notes == ["transparent pixels composited on white"]
    opaque = tmp_path / "opaque.png"
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(opaque)
    assert open_image(opaque)[1] == []  # an alpha channel that hides nothing is no news


def test_palette_images_with_and_without_transparency(tmp_path):
    rgb = Image.fromarray(_halves(32, 32))
    plain = tmp_path / "plain.png"
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(plain)
    img, notes = open_image(plain)
    assert img.mode == "RGB" and notes == []
    assert np.array_equal(np.asarray(img), _halves(32, 32))
    keyed = tmp_path / "keyed.png"
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    index_of_blue = palette.getpixel((31, 0))
    palette.save(keyed, transparency=index_of_blue)
    img, notes = open_image(keyed)
    assert (np.asarray(img)[:, 16:] == 255).all()  # the keyed-out blue is now white
    assert notes == ["transparent pixels composited on white"]


def test_cmyk_is_converted_and_an_srgb_profile_is_kept(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # full magenta + yellow = red
    path = tmp_path / "print.jpg"
    cmyk.save(path, quality=100)
    img, notes = open_image(path)
    r, g, b = np.asarray(img).reshape(-1, 3).mean(0)
    assert r > 240 and g < 15 and b < 15
    assert notes == ["CMYK without an ICC profile: converted with Pillow's formula"]
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = tmp_path / "tagged.png"
    Image.fromarray(_halves(16, 16)).save(tagged, icc_profile=srgb)
    img, notes = open_image(tagged)
    assert notes == [] and np.array_equal(np.asarray(img), _halves(16, 16))


def test_too_large_to_decode_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageInputError, match="too large to decode"):
        load_image(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own bomb check
    with pytest.raises(ImageInputError, match="too large to decode"):
        image_size(path)


def test_unreadable_and_truncated_files_are_one_line(tmp_path):
    good = tmp_path / "good.png"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ImageInputError, match="unreadable"):
        load_image(cut)
    with pytest.raises(ImageInputError, match="not found"):
        load_image(tmp_path / "none.png")


def test_tensor_range_and_layout(tmp_path):
    path = tmp_path / "halves.png"
    Image.fromarray(_halves()).save(path)
    t = load_image(path)
    assert t.dtype == torch.float32 and t.shape == (3, 40, 80)
    assert float(t.min()) == -1.0 and float(t.max()) == 1.0


def _frames(path, count: int, size=(48, 32)):
    """An animated GIF or multi-page TIFF of ``count`` frames of different colours."""
    frames = [Image.new("RGB", size, (40 * i, 200, 255 - 40 * i)) for i in range(count)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


@pytest.mark.parametrize("name", ["anim.gif", "pages.tiff"])
def test_several_frames_are_a_note_naming_the_count(tmp_path, name):
    path = _frames(tmp_path / name, 3)
    assert images.frame_count(path) == 3
    assert images.frames_note(path) == [
        f"image {name} has 3 frames (animated or multi-page): the first is used"
    ]
    assert images.frames_note(_frames(tmp_path / f"one-{name}", 1)) == []


def _mask(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8), "L").save(path)
    return path


def test_mask_notes_say_what_scoring_does_to_it(tmp_path):
    edited = np.zeros((40, 80), dtype=np.uint8)
    edited[10:20, 10:30] = 255
    assert images.mask_notes(_mask(tmp_path / "ok.png", edited), (40, 80)) == []
    half = images.mask_notes(_mask(tmp_path / "half.png", edited[::2, ::2]), (40, 80))
    assert half == ["mask half.png is 20x40, the source 40x80: scaled to it"]
    square = images.mask_notes(_mask(tmp_path / "sq.png", edited[:, :40]), (40, 80))
    assert square == ["mask sq.png is 40x40, the source 40x80: stretched (another aspect) to it"]
    grey = edited.copy()
    grey[0, :8] = 100  # 8 of 3,200 pixels: 0.25%
    (note,) = images.mask_notes(_mask(tmp_path / "grey.png", grey), (40, 80))
    assert note == (
        "mask grey.png: 0.2% of its pixels are grey, thresholded at 128 (128 and up is the "
        "edited region)"
    )
    full = images.mask_notes(_mask(tmp_path / "full.png", np.full((40, 80), 200)), (40, 80))
    assert full[-1] == (
        "mask full.png covers the whole image: masked metrics have no kept pixel and are "
        "empty (NaN)"
    )
