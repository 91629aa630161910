"""``open``: a prepared split as a torch Dataset (images, targets, masks).

Items follow docs/contracts.md: ``image`` float32 CxHxW normalised (grey
repeated to 3 channels), ``target`` int64 (single-label) or float32 multi-hot,
``mask`` float32 1xHxW in {0, 1} (zeros where none), ``has_mask``, ``index``
(the row in this split's manifest). Decoding PNGs dominates the cost of small
models, so ``cache="memory"`` keeps decoded, resized uint8 arrays in RAM and
``cache="memmap"`` in one uint8 file under ``OUT/.cache`` shared by workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from medzoo.datasets import augment as augmentations
from medzoo.datasets.imaging import decode_image, resize_square, truncation
from medzoo.datasets.prepare import read_info, read_manifest
from medzoo.errors import ConfigError, DatasetError, DatasetFormatError
from medzoo.storage import location

SPLITS = ("train", "val", "test")


class PreparedDataset(Dataset):
    """One split (optionally one CV fold, one sequence) of a prepared folder."""

    def __init__(
        self,
        prepared: str | Path,
        *,
        split: str = "train",
        fold: int | None = None,
        augment: str | None = None,
        strength: float = 1.0,
        image_size: int | None = None,
        mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
        std: tuple[float, float, float] = (0.229, 0.224, 0.225),
        sequence: str | None = None,
        cache: str | None = None,
        limit: int | None = None,
    ) -> None:
        self.root = Path(prepared).expanduser().resolve()
        self.info: dict[str, Any] = read_info(self.root)
        _check_options(split=split, cache=cache, limit=limit, mean=mean, std=std)
        df = read_manifest(self.root)
        df = _select(df, split=split, fold=fold, dataset_id=self.info["id"])
        df = _narrow(df, sequence=sequence, limit=limit, dataset_id=self.info["id"])
        self.manifest = df.reset_index(drop=True)
        self.split, self.fold, self.sequence = split, fold, sequence
        self.classes: list[str] = list(self.info["classes"])
        self.task: str = self.info["task"]
        self.image_size = int(image_size or self.info["image_size"])
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1)
        self.transform = augmentations.build(augment, strength=strength)
        self.patient_ids = self.manifest["patient_id"].to_numpy()
        self.targets = _targets(self.manifest, task=self.task, classes=self.classes)
        self.cache = cache
        self._images: np.ndarray | list | None = None
        self._masks: np.ndarray | list | None = None
        if cache == "memory":
            self._images, self._masks = [None] * len(self), [None] * len(self)
        elif cache == "memmap":
            self._images, self._masks = self._memmap()

    def __len__(self) -> int:
        return len(self.manifest)

    def _decode(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        row = self.manifest.iloc[i]
        image = resize_square(self._read(row["path"]), self.image_size)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        mask = None
        if row["mask_path"]:
            mask = resize_square(self._read(row["mask_path"], grey=True), self.image_size, nearest=True)
        return image, mask

    def _read(self, rel: str, *, grey: bool = False) -> np.ndarray:
        """One image of the set, read only if it lies inside it: a link (to ``/etc/passwd``, say) is refused.

        A prepared set may come from someone else; its manifest's paths are checked when
        it is read, and the files themselves here, through the storage layer.
        """
        path = self.root / rel
        data = location(path).read_bytes(root=location(self.root))
        problem = truncation(data)
        if problem is not None:
            raise DatasetFormatError(f"{path}: {problem}")
        return decode_image(data, name=str(path), grey=grey)

    def _raw(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.cache is None:
            return self._decode(i)
        if self.cache == "memory":
            if self._images[i] is None:
                self._images[i], self._masks[i] = self._decode(i)
            return self._images[i], self._masks[i]
        has = bool(self.manifest["mask_path"].iloc[i])
        return np.asarray(self._images[i]), (np.asarray(self._masks[i]) if has else None)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        image, mask = self._raw(i)
        has_mask = mask is not None
        if mask is None:
            mask = np.zeros(image.shape[:2], np.uint8)
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        x = image.astype(np.float32).transpose(2, 0, 1) / 255.0
        x = (x - self.mean) / self.std
        target = (
            torch.from_numpy(self.targets[i])
            if self.task == "multilabel"
            else torch.tensor(int(self.targets[i]), dtype=torch.int64)
        )
        return {
            "image": torch.from_numpy(np.ascontiguousarray(x)),
            "target": target,
            "mask": torch.from_numpy((mask > 127).astype(np.float32)[None]),
            "has_mask": has_mask,
            "index": i,
        }

    def _memmap(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode once into ``.cache/<key>.u8`` files (written atomically), then map them read-only."""
        import hashlib

        key = hashlib.sha256("|".join([*self.manifest["sha256"], str(self.image_size)]).encode()).hexdigest()[
            :16
        ]
        cache = self.root / ".cache"
        n, s = len(self), self.image_size
        img_path, mask_path = cache / f"{key}-images.u8", cache / f"{key}-masks.u8"
        if not (img_path.is_file() and mask_path.is_file()):
            images = np.zeros((n, s, s, 3), np.uint8)
            masks = np.zeros((n, s, s), np.uint8)
            for i in range(n):
                image, mask = self._decode(i)
                images[i] = image
                if mask is not None:
                    masks[i] = mask
            location(img_path).write_bytes(images.tobytes())
            location(mask_path).write_bytes(masks.tobytes())
        images = np.memmap(img_path, np.uint8, mode="r", shape=(n, s, s, 3))
        masks = np.memmap(mask_path, np.uint8, mode="r", shape=(n, s, s))
        return images, masks


def _check_options(
    *,
    split: str,
    cache: str | None,
    limit: int | None,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> None:
    """Refuse bad constructor options before anything is read, each with the accepted values."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    if cache not in (None, "memory", "memmap"):
        raise ConfigError(f"cache must be None, 'memory' or 'memmap', got {cache!r}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit >= 1 must hold, got limit={limit}")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ConfigError(f"mean and std need 3 values each, std > 0; got mean={mean}, std={std}")


def _narrow(df, *, sequence: str | None, limit: int | None, dataset_id: str):
    """The rows of one sequence (multi-sequence sets), then at most ``limit`` of them."""
    if sequence is not None:
        if "sequence" not in df.columns:
            raise ConfigError(f"{dataset_id} has no sequences; drop sequence={sequence!r}")
        known = sorted(df["sequence"].unique())
        if sequence not in known:
            raise ConfigError(f"sequence must be one of {known}, got {sequence!r}")
        df = df[df["sequence"] == sequence]
    if limit is not None and limit < len(df):
        # evenly spaced rows, not the head: a manifest sorted by class or patient still yields every class
        df = df.iloc[np.linspace(0, len(df) - 1, limit).round().astype(int)]
    return df


def _targets(manifest, *, task: str, classes: list[str]) -> np.ndarray:
    """Class indices (int64), or for multi-label sets a float32 0/1 matrix with one column per class."""
    if task == "multilabel":
        index = {c: i for i, c in enumerate(classes)}
        t = np.zeros((len(manifest), len(classes)), np.float32)
        for r, labels in enumerate(manifest["labels"]):
            for name in labels:
                t[r, index[name]] = 1.0
        return t
    return manifest["label"].to_numpy(np.int64)


def _select(df, *, split: str, fold: int | None, dataset_id: str):
    """Rows of ``split``; with ``fold`` the CV view: val = that fold, train = the other folds."""
    if fold is None:
        out = df[df["split"] == split]
    else:
        folds = sorted(int(f) for f in df["fold"].unique() if f >= 0)
        if fold not in folds:
            raise ConfigError(
                f"fold must be one of {folds or 'none (prepare with --folds K)'}, got fold={fold}"
            )
        cv = df[(df["split"] != "test") & (df["fold"] >= 0)]
        out = {
            "test": df[df["split"] == "test"],
            "val": cv[cv["fold"] == fold],
            "train": cv[cv["fold"] != fold],
        }[split]
    if out.empty:
        raise DatasetError(
            f"split {split!r}{'' if fold is None else f' (fold {fold})'} of "
            f"{dataset_id} must hold rows; found none",
            fix="prepare with more patients or another split protocol",
        )
    return out
