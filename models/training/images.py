"""Image files and the crop both networks see.

The seed's rule: resize so the short side is 224 (Pillow BICUBIC), centre crop 224x224. The student gets
that crop with ImageNet normalisation, the teacher the same crop through Qwen's processor (pixels.py).
Augmented views (training only) take a random crop of the original first, then the same rule; each
view's randomness comes from its own seeded generator, so a corpus is reproduced bit for bit.
"""
from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageEnhance

SIZE = 224
EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm", ".tif", ".tiff"}


class ImageInputError(ValueError):
    """An image file that cannot be read or is too small to crop."""


def list_images(folder: Path) -> list[Path]:
    """Image files under folder (recursively), sorted so that every run sees the same order."""
    if not folder.is_dir():
        raise ImageInputError(f"{folder}: not a folder of images")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except Exception as error:  # Pillow raises many types for damaged files
        raise ImageInputError(f"{path}: not a readable image ({str(error).splitlines()[0] if str(error) else type(error).__name__})") from error


def seed_crop(image: Image.Image, size: int = SIZE) -> Image.Image:
    """torchvision Resize(size, BICUBIC) then CenterCrop(size) on a PIL image, as the seed trains and the
    edge daemon deploys (daemon/pipeline/preprocess.ts): the short side becomes `size`, the long side is
    truncated; Pillow's BICUBIC with its default reducing_gap; crop offsets round half to even."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageInputError(f"image of {width}x{height} pixels")
    if width <= height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_w, new_h = int(size * width / height), size
    if new_w < size or new_h < size:
        raise ImageInputError(f"resizing {width}x{height} gives {new_w}x{new_h}, smaller than the {size}x{size} crop")
    resized = image.resize((new_w, new_h), Image.BICUBIC)
    left, top = int(round((new_w - size) / 2)), int(round((new_h - size) / 2))
    return resized.crop((left, top, left + size, top + size))


def augmented_crop(image: Image.Image, rng: random.Random, size: int = SIZE) -> Image.Image:
    """A random crop (10-100% of the area, aspect 3:4..4:3), an optional mirror, brightness, contrast and
    saturation jitter of up to 25%, then the seed's crop rule."""
    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.1, 1.0)
        aspect = rng.uniform(3 / 4, 4 / 3)
        w, h = round((target * aspect) ** 0.5), round((target / aspect) ** 0.5)
        if 16 <= w <= width and 16 <= h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            image = image.crop((left, top, left + w, top + h))
            break
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(rng.uniform(0.75, 1.25))
    return seed_crop(image, size)


def view(image: Image.Image, index: int, seed: int, name: str) -> Image.Image:
    """View `index` of an image: 0 is the plain seed crop, others are augmented with a generator seeded
    by (seed, file name, index), independent of the order the files are processed in."""
    if index == 0:
        return seed_crop(image)
    return augmented_crop(image, random.Random(f"{seed}:{name}:{index}"))
