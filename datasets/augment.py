"""The studies' augmentations as named albumentations presets, each scaled by a ``strength`` in [0, 1].

Strength 1 is the study's setting; 0 turns the geometric and photometric ranges
to zero (flips keep their probability scaled too), so a sweep can search over
augmentation strength as one number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medzoo.registry import Registry

PRESETS: Registry[Callable[[float], list[Any]]] = Registry("augmentation preset")


def build(preset: str | None, *, strength: float = 1.0) -> Any | None:
    """An ``albumentations.Compose`` for ``preset`` (None or "none" -> None: no augmentation)."""
    if preset is None or preset == "none":
        return None
    if not 0.0 <= strength <= 1.0:
        from medzoo.errors import ConfigError

        raise ConfigError(f"0 <= strength <= 1 must hold, got strength={strength}")
    import albumentations as A

    return A.Compose(PRESETS.get(preset)(strength))


def names() -> list[str]:
    return ["none", *PRESETS.names()]


def _affine(s: float, *, rotate: float, shift: float, scale: float = 0.0, shear: float = 0.0, p: float = 0.7):
    import albumentations as A
    import cv2

    return A.Affine(
        rotate=(-rotate * s, rotate * s),
        translate_percent=(-shift * s, shift * s),
        scale=(1 - scale * s, 1 + scale * s),
        shear=(-shear * s, shear * s),
        border_mode=cv2.BORDER_CONSTANT,
        fill=0,
        fill_mask=0,
        p=p * s,
    )


@PRESETS.register("light")
def _light(s: float) -> list[Any]:
    import albumentations as A

    return [A.HorizontalFlip(p=0.5 * s), _affine(s, rotate=5, shift=0.05, p=0.5)]


@PRESETS.register("brain-keras")
def _brain(s: float) -> list[Any]:
    """Study 1: rotation +-10 deg, width/height shift 10 %, horizontal and vertical flips, nearest fill."""
    import albumentations as A
    import cv2

    return [
        A.Affine(
            rotate=(-10 * s, 10 * s),
            translate_percent=(-0.1 * s, 0.1 * s),
            border_mode=cv2.BORDER_REPLICATE,
            interpolation=cv2.INTER_NEAREST,
            p=1.0 if s > 0 else 0.0,
        ),
        A.HorizontalFlip(p=0.5 * s),
        A.VerticalFlip(p=0.5 * s),
    ]


@PRESETS.register("all-smear")
def _smear(s: float) -> list[Any]:
    """Study 2: rotation, horizontal/vertical flips, Gaussian noise."""
    import albumentations as A

    return [
        A.RandomRotate90(p=0.5 * s),
        A.HorizontalFlip(p=0.5 * s),
        A.VerticalFlip(p=0.5 * s),
        _affine(s, rotate=30, shift=0.0, p=0.5),
        A.GaussNoise(std_range=(0.0, 0.05 * s), p=0.5 * s),
    ]


@PRESETS.register("mammo")
def _mammo(s: float) -> list[Any]:
    """Study 3: up/down and left/right flips, shifts, rotations."""
    import albumentations as A

    return [A.HorizontalFlip(p=0.5 * s), A.VerticalFlip(p=0.5 * s), _affine(s, rotate=20, shift=0.1, p=0.8)]


@PRESETS.register("glioma")
def _glioma(s: float) -> list[Any]:
    """Study 4 (online part): small translations, horizontal reflection, rotation +-4 deg, shear up to 20 deg."""
    import albumentations as A

    return [A.HorizontalFlip(p=0.5 * s), _affine(s, rotate=4, shift=0.05, shear=20, p=0.8)]


@PRESETS.register("cxr")
def _cxr(s: float) -> list[Any]:
    """Chest X-ray: small affine jitter and contrast changes; no vertical flips (anatomy has an up)."""
    import albumentations as A

    return [
        _affine(s, rotate=7, shift=0.05, scale=0.08, p=0.7),
        A.RandomBrightnessContrast(brightness_limit=0.1 * s, contrast_limit=0.1 * s, p=0.5 * s),
    ]
