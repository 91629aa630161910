"""A BraTS 2019 training-set phantom: real NIfTI-1 .nii.gz volumes at a reduced size.

Each patient has a skull-stripped brain (white and grey matter, ventricles) in
four sequences and a seg volume with BraTS labels {0, 1, 2, 4}. Grades differ the
way the study relies on: HGG tumours carry an enhancing rim on T1-CE around a
necrotic core, LGG tumours are mostly non-enhancing with edema. Some HGG have a
thin, partial rim and little necrosis and some LGG a patchy enhancing focus, and
scanner gain, bias field, noise, tumour size and site vary, so the grade must be
learnt rather than read off one pixel. Dtypes vary between files on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = "MICCAI_BraTS_2019_Data_Training"
SHAPE = (64, 64, 40)  # x, y, z (the real set is 240 x 240 x 155; readers never assume it)

#: relative intensity of each tissue per sequence: wm, gm, csf, edema, core (non-enhancing), necrosis, enhancing
_CONTRAST = {
    "t1": (1.00, 0.72, 0.28, 0.70, 0.58, 0.30, 0.62),
    "t1ce": (1.00, 0.74, 0.30, 0.72, 0.62, 0.30, 1.55),
    "t2": (0.60, 0.82, 1.70, 1.30, 1.20, 1.55, 1.05),
    "flair": (0.72, 0.88, 0.22, 1.45, 1.25, 0.65, 1.15),
}


def write_phantom(out: Path, *, patients: int, seed: int) -> None:
    """Write ``patients`` patients (about 60% HGG) with name_mapping.csv and survival_data.csv."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    root = out / ROOT
    n_hgg = max(2, min(patients - 2, round(patients * 0.6)))
    grades = rng.permutation(["HGG"] * n_hgg + ["LGG"] * (patients - n_hgg))
    ids = _patient_ids(rng, patients)
    mapping, survival = [], []
    for pid, grade in zip(ids, grades, strict=True):
        folder = root / grade / pid
        folder.mkdir(parents=True, exist_ok=True)
        volumes, seg = _render(rng, hgg=grade == "HGG")
        affine = np.diag([-1.0, -1.0, 1.0, 1.0])
        affine[:3, 3] = [0.0, 239.0, 0.0]
        for seq, vol in volumes.items():
            dtype = np.float32 if rng.random() < 0.25 else np.int16
            data = vol.astype(dtype) if dtype is np.float32 else np.round(vol).astype(np.int16)
            nib.save(nib.Nifti1Image(data, affine), str(folder / f"{pid}_{seq}.nii.gz"))
        seg_dtype = [np.uint8, np.int16, np.float32][int(rng.integers(0, 3))]
        nib.save(nib.Nifti1Image(seg.astype(seg_dtype), affine), str(folder / f"{pid}_seg.nii.gz"))
        tcga = (
            f"TCGA-{int(rng.integers(2, 99)):02d}-{int(rng.integers(1000, 9999))}" if "TCIA" in pid else "NA"
        )
        old = pid.replace("BraTS19", "Brats18") if rng.random() < 0.7 else "NA"
        mapping.append(f"{grade},{old.replace('Brats18', 'Brats17')},{old},{tcga},{pid}")
        if grade == "HGG" and rng.random() < 0.75:
            days = int(rng.integers(50, 1500))
            alive = rng.random() < 0.1
            surv = f"ALIVE ({days} days later)" if alive else str(days)
            resection = str(rng.choice(["GTR", "STR", "NA"]))
            survival.append(f"{pid},{rng.uniform(30, 85):.3f},{surv},{resection}")
    (root / "name_mapping.csv").write_text(
        "Grade,BraTS_2017_subject_ID,BraTS_2018_subject_ID,TCGA_TCIA_subject_ID,BraTS_2019_subject_ID\n"
        + "\n".join(mapping)
        + "\n"
    )
    (root / "survival_data.csv").write_text(
        "BraTS19ID,Age,Survival,ResectionStatus\n" + "\n".join(survival) + "\n"
    )


def _patient_ids(rng: np.random.Generator, n: int) -> list[str]:
    ids: set[str] = set()
    while len(ids) < n:
        site = rng.choice(["2013", "CBICA", "TCIA01", "TCIA02", "TCIA08", "TMC"])
        if site == "2013":
            ids.add(f"BraTS19_2013_{int(rng.integers(0, 40))}_1")
        elif site == "CBICA":
            ids.add(f"BraTS19_CBICA_{''.join(rng.choice(list('ABCDEFGHIJKLMNOPQRSTUVWXYZ'), 3))}_1")
        else:
            ids.add(f"BraTS19_{site}_{int(rng.integers(100, 700))}_1")
    return sorted(ids)


def _smooth(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std noise smooth over about ``sigma`` voxels."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(SHAPE), sigma, truncate=2.5)
    f -= f.mean()
    return f / (f.std() + 1e-6)


def _render(rng: np.random.Generator, *, hgg: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The four sequences and the label map of one case (the steps draw from ``rng`` in this order)."""
    grid = np.meshgrid(*(np.arange(s, dtype=np.float32) for s in SHAPE), indexing="ij")
    c, axes, brain, gm, vent = _anatomy(rng, grid)
    seg, d_c, r_core = _tumour(rng, grid, c, axes, brain, hgg=hgg)
    necrotic = (seg == 1) & hgg & (d_c <= r_core * 0.75)
    tissue = np.zeros(SHAPE, np.int8)  # 0 wm, 1 gm, 2 csf, 3 edema, 4 core, 5 necrosis, 6 enhancing
    tissue[gm] = 1
    tissue[vent & brain] = 2
    tissue[seg == 2] = 3
    tissue[seg == 1] = 4
    tissue[necrotic] = 5
    tissue[seg == 4] = 6
    volumes = _sequences(rng, tissue, brain, hgg=hgg)
    seg[~brain] = 0
    return volumes, seg


def _anatomy(
    rng: np.random.Generator, grid: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The brain's centre and semi-axes, and its brain, grey-matter and ventricle masks."""
    x, y, z = grid
    c = np.array(SHAPE, np.float32) / 2 + rng.normal(0, 1.0, 3)
    axes = np.array([26, 29, 17], np.float32) * rng.uniform(0.9, 1.05, 3)
    rho = np.sqrt(((x - c[0]) / axes[0]) ** 2 + ((y - c[1]) / axes[1]) ** 2 + ((z - c[2]) / axes[2]) ** 2)
    rho = rho + 0.03 * _smooth(rng, 4)
    brain = rho <= 1.0
    gm = brain & (rho > 0.78 + 0.05 * _smooth(rng, 2))
    vent = np.zeros(SHAPE, bool)
    for side in (-1, 1):
        vc = c + np.array([side * rng.uniform(3, 5), rng.uniform(-3, 3), 0])
        va = np.array([2.0, 7.0, 4.0]) * rng.uniform(0.8, 1.3, 3)
        vent |= ((x - vc[0]) / va[0]) ** 2 + ((y - vc[1]) / va[1]) ** 2 + ((z - vc[2]) / va[2]) ** 2 <= 1
    return c, axes, brain, gm, vent


def _tumour(
    rng: np.random.Generator,
    grid: tuple[np.ndarray, ...],
    c: np.ndarray,
    axes: np.ndarray,
    brain: np.ndarray,
    *,
    hgg: bool,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The BraTS label map (1 core, 2 edema, 4 enhancing), the distance field of the core and its radius.

    HGG: a ring-enhancing core around necrosis; LGG: a mostly non-enhancing core, sometimes a patchy enhancing focus.
    """
    x, y, z = grid
    # the tumour: a site in either hemisphere, away from the midline and the surface
    while True:
        tc = c + np.array(
            [rng.choice([-1, 1]) * rng.uniform(7, 14), rng.uniform(-12, 12), rng.uniform(-5, 5)]
        )
        r_edema = rng.uniform(8, 13) if hgg else rng.uniform(6, 11)  # HGG: more edema around the core
        if (((tc - c) / axes) ** 2).sum() ** 0.5 < 0.65:
            break
    d = np.sqrt((x - tc[0]) ** 2 + (y - tc[1]) ** 2 + ((z - tc[2]) * 1.2) ** 2)
    d_e = d / (1 + 0.25 * _smooth(rng, 3))
    d_c = d / (1 + (0.18 if hgg else 0.12) * _smooth(rng, 2))
    r_core = r_edema * (rng.uniform(0.45, 0.7) if hgg else rng.uniform(0.55, 0.8))
    seg = np.zeros(SHAPE, np.uint8)
    seg[brain & (d_e <= r_edema)] = 2
    core = brain & (d_c <= r_core)
    seg[core] = 1
    if hgg:
        weak = rng.random() < 0.2  # thin, partial rim and little necrosis
        rim = rng.uniform(1.0, 1.6) if weak else rng.uniform(1.6, 3.0)
        ring = core & (d_c > r_core - rim)
        if weak:
            ring &= (x - tc[0]) * rng.normal() + (y - tc[1]) * rng.normal() > 0
        seg[ring] = 4
        necrosis = core & (d_c <= r_core - rim - (1.5 if weak else 0.0))
        seg[necrosis] = 1
    elif rng.random() < 0.3:  # an LGG with a patchy enhancing focus
        focus = tc + rng.normal(0, 1.5, 3)
        seg[
            core
            & (np.sqrt((x - focus[0]) ** 2 + (y - focus[1]) ** 2 + (z - focus[2]) ** 2) <= rng.uniform(1, 2))
        ] = 4
    return seg, d_c, r_core


def _sequences(
    rng: np.random.Generator, tissue: np.ndarray, brain: np.ndarray, *, hgg: bool
) -> dict[str, np.ndarray]:
    """Each sequence from the tissue map by its contrast table, with bias field, texture, gain and noise."""
    bias = np.exp(0.12 * _smooth(rng, 10))
    texture = 0.04 * _smooth(rng, 1.2)
    volumes: dict[str, np.ndarray] = {}
    for seq, table in _CONTRAST.items():
        contrast = np.asarray(table, np.float32)
        if seq == "t1ce":  # enhancement strength varies; LGG foci enhance faintly
            contrast[6] = rng.uniform(1.15, 1.6) if hgg else rng.uniform(1.05, 1.3)
        level = contrast[tissue] * (1 + texture) * bias
        gain = rng.uniform(200, 1500)
        vol = level * gain + rng.normal(0, gain * rng.uniform(0.03, 0.07), SHAPE)
        vol[~brain] = 0
        volumes[seq] = np.clip(vol, 0, None).astype(np.float32)
    return volumes
