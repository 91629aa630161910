"""``open``: a prepared split as a torch Dataset (images, targets, masks).

Items follow docs/contracts.md: ``image`` float32 CxHxW normalised (grey
repeated to 3 channels), ``target`` int64 (single-label) or float32 multi-hot,
``mask`` float32 1xHxW in {0, 1} (zeros where none), ``has_mask``, ``index``
(the row in this split's manifest). Decoding PNGs dominates the cost of small
models, so ``cache="memory"`` keeps decoded, resized uint8 arrays in RAM and
``cache="memmap"`` in one uint8 file under ``OUT/.cache`` shared by workers.

Per item the loader does only what the item needs (profiled on 224 px phantoms,
where pandas row lookups, a link check per path component, copy-heavy NumPy
normalisation and augmenting three identical grey channels together took more
time than the PNG decode): the manifest's columns are NumPy arrays, the
set's folders are checked for links once (each file is still opened without
following a link, and its size checked before decoding), a grey image is
augmented as one channel, and the uint8 -> normalised float32 step is one
conversion plus two in-place torch operations. ``masks=False`` (what a trial
uses: training reads no mask) skips decoding the masks and leaves them out of
the items.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from medzoo.datasets import augment as augmentations
from medzoo.datasets.imaging import decode_image, resize_square, truncation
from medzoo.datasets.prepare import read_info, read_manifest
from medzoo.errors import ConfigError, DatasetError, DatasetFormatError
from medzoo.storage import location

#: the largest image file an item may read (a prepared image is a resized PNG; raw DICOMs stay far below)
MAX_IMAGE_BYTES = 512 << 20

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
        masks: bool = True,
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
        # x = u8 * scale - shift  ==  (u8 / 255 - mean) / std, in two in-place passes
        self._scale = torch.from_numpy(1.0 / (255.0 * self.std))
        self._shift = torch.from_numpy(self.mean / self.std)
        self.transform = augmentations.build(augment, strength=strength)
        self.patient_ids = self.manifest["patient_id"].to_numpy()
        self.targets = _targets(self.manifest, task=self.task, classes=self.classes)
        self._target_tensors = torch.from_numpy(np.array(self.targets))  # a writable copy
        # the manifest's columns as arrays: a pandas row lookup per item cost more than the PNG decode
        self._paths = self.manifest["path"].to_numpy(dtype=object)
        self._mask_paths = self.manifest["mask_path"].to_numpy(dtype=object)
        self.masks = bool(masks)
        _refuse_linked_folders(self.root, [*self._paths, *(m for m in self._mask_paths if m)])
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
        """uint8 HxW (grey) or HxWx3 image at the split's size, and its mask (None without one or masks=False)."""
        image = resize_square(self._read(self._paths[i]), self.image_size)
        mask = None
        if self.masks and self._mask_paths[i]:
            mask = resize_square(self._read(self._mask_paths[i], grey=True), self.image_size, nearest=True)
        return image, mask

    def _read(self, rel: str, *, grey: bool = False) -> np.ndarray:
        """One image of the set, read only if it lies inside it: a link (to ``/etc/passwd``, say) is refused.

        A prepared set may come from someone else; its manifest's paths are checked when
        it is read, its folders for links when it is opened, and each file here: opened
        without following a link, a regular file, its size bounded before it is read and
        its header's dimensions checked (``decode_image``) before it is decoded.
        """
        path = os.path.join(self.root, rel)
        data = _read_regular(path)
        problem = truncation(data)
        if problem is not None:
            raise DatasetFormatError(f"{path}: {problem}")
        return decode_image(data, name=path, grey=grey)

    def _raw(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.cache is None:
            return self._decode(i)
        if self.cache == "memory":
            if self._images[i] is None:
                self._images[i], self._masks[i] = self._decode(i)
            return self._images[i], self._masks[i]
        has = self.masks and bool(self._mask_paths[i])
        return np.array(self._images[i]), (np.array(self._masks[i]) if has else None)  # writable copies

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        image, mask = self._raw(i)
        has_mask = mask is not None
        if self.transform is not None:
            if mask is None and self.masks:
                mask = np.zeros(image.shape[:2], np.uint8)
            out = self.transform(image=image, mask=mask) if mask is not None else self.transform(image=image)
            image, mask = out["image"], out.get("mask")
        item: dict[str, Any] = {
            "image": self._to_tensor(image),
            "target": self._target_tensors[i],
            "index": i,
        }
        if self.masks:
            side = image.shape[:2]
            item["mask"] = (
                torch.from_numpy(np.ascontiguousarray(mask)).gt(127).float()[None]
                if mask is not None
                else torch.zeros((1, *side), dtype=torch.float32)
            )
            item["has_mask"] = has_mask
        return item

    def _to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """uint8 HxW or HxWxC -> float32 3xHxW normalised; a grey image fills the three channels."""
        u8 = torch.from_numpy(np.ascontiguousarray(image))
        chw = u8.unsqueeze(0).expand(3, -1, -1) if u8.ndim == 2 else u8.permute(2, 0, 1)
        return (
            chw.to(torch.float32, memory_format=torch.contiguous_format).mul_(self._scale).sub_(self._shift)
        )

    def _memmap(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode once into ``.cache/<key>.u8`` files (written atomically), then map them read-only."""
        import hashlib

        # masks=False leaves the mask file empty: such a cache must never serve a set opened with masks
        parts = [*self.manifest["sha256"], str(self.image_size), *([] if self.masks else ["no-masks"])]
        key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
        cache = self.root / ".cache"
        n, s = len(self), self.image_size
        img_path, mask_path = cache / f"{key}-images.u8", cache / f"{key}-masks.u8"
        if not (img_path.is_file() and mask_path.is_file()):
            images = np.zeros((n, s, s, 3), np.uint8)
            masks = np.zeros((n, s, s), np.uint8)
            for i in range(n):
                image, mask = self._decode(i)
                images[i] = image[:, :, None] if image.ndim == 2 else image
                if mask is not None:
                    masks[i] = mask
            location(img_path).write_bytes(images.tobytes())
            location(mask_path).write_bytes(masks.tobytes())
        images = np.memmap(img_path, np.uint8, mode="r", shape=(n, s, s, 3))
        masks = np.memmap(mask_path, np.uint8, mode="r", shape=(n, s, s))
        return images, masks


def _read_regular(path: str) -> bytes:
    """The bytes of a regular file, opened without following a link, refused above MAX_IMAGE_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise DatasetFormatError(
                f"{path} is a symbolic link; links are refused because they can point outside the set",
                fix="replace the link by the file itself",
            ) from None
        raise DatasetFormatError(
            f"{path}: cannot be read ({exc.strerror or exc})", fix="re-prepare the dataset"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DatasetFormatError(f"{path} is not a regular file", fix="re-prepare the dataset")
        if st.st_size > MAX_IMAGE_BYTES:
            raise DatasetFormatError(
                f"{path} holds {st.st_size} bytes; an image may hold at most {MAX_IMAGE_BYTES}",
                fix="re-prepare the dataset",
            )
        return fh.read()


def _refuse_linked_folders(root: Path, rels: list[str]) -> None:
    """Every folder between ``root`` and the files, checked once per dataset (not per item) for links."""
    seen: set[str] = set()
    for rel in rels:
        parent = PurePosixPath(rel).parent
        while str(parent) not in (".", "") and str(parent) not in seen:
            seen.add(str(parent))
            parent = parent.parent
    for folder in sorted(seen):
        if (root / folder).is_symlink():
            raise DatasetFormatError(
                f"{root / folder} is a symbolic link inside {root}; links are refused because they can "
                "point outside the set",
                fix="replace the link by the folder itself",
            )


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
