"""Synthetic PASCAL-like and Cityscapes-like datasets, rendered once into the real layouts.

``synthetic_pascal`` renders indoor rooms with people (``synthetic_people``) into the ATRC
``PASCAL_MT`` layout (JPEG images, PNG labels, PASCAL-Part and ``LabelMap`` MATLAB files), so the
PASCAL-Context reader derives the five targets exactly as it does from the real files: human parts
from the part structs (all 255 without a person), saliency above 0.5, boundaries from the
``LabelMap``, normals kept on NYU-compatible classes. ``synthetic_cityscapes`` renders streets
(``synthetic_street``) into the MTPSL Cityscapes layout (``label_7``, inverse depth) that
``dmtl.data.readers.cityscapes`` reads.
Samples are a pure function of (seed, split, index); a dataset is
written into ``<cache>/<dataset>-v<version>-<H>x<W>-train<N>-val<M>-seed<S>/`` atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from dmtl.data.readers.cityscapes import CityscapesDataset
from dmtl.data.readers.mtpsl import write_mtpsl_sample
from dmtl.data.synthetic.dataset import (
    CACHED_SPLITS,
    MANIFEST_NAME,
    SPLIT_CODES,
    SyntheticConfig,
    ensure_rendered,
    run_jobs,
)
from dmtl.data.synthetic.people import VOC_PERSON, render_people_sample
from dmtl.data.synthetic.street import LABEL7_CLASSES, render_street_sample
from dmtl.errors import ConfigError, DataError

# Bump a variant's version whenever its output changes, so old caches are never reused.
VARIANT_VERSIONS = {"synthetic_pascal": 1, "synthetic_cityscapes": 1}
VARIANTS = tuple(VARIANT_VERSIONS)
VARIANT_CODES = {"synthetic_pascal": 1, "synthetic_cityscapes": 2}  # seed streams apart from NYU's
JPEG_QUALITY = 95
PASCAL_FOLDERS = ("JPEGImages", "ImageSets/Context", "semseg/VOC12", "human_parts", "sal_distill",
                  "normals_distill", "pascal-context/trainval")  # fmt: skip


def variant_generators(
    dataset: str, seed: int, split: str, index: int
) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators of the scene and of the sensor noise of one sample of a variant."""
    if dataset not in VARIANT_CODES:
        raise ConfigError(f"unknown synthetic variant {dataset!r}; choose one of {VARIANTS}")
    if split not in SPLIT_CODES:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CODES)}")
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index, VARIANT_CODES[dataset]])
    scene_rng, noise_rng = rng.spawn(2)
    return scene_rng, noise_rng


def render_variant_sample(
    dataset: str, seed: int, split: str, index: int, height: int, width: int
) -> dict:
    """Sample ``index`` of ``split`` of a variant, bit-identical for the same arguments (see the
    ``render_*_sample`` functions of ``synthetic_people`` and ``synthetic_street``)."""
    scene_rng, noise_rng = variant_generators(dataset, seed, split, index)
    render = render_people_sample if dataset == "synthetic_pascal" else render_street_sample
    return render(scene_rng, noise_rng, height, width)


def pascal_image_id(split: str, index: int) -> str:
    """The PASCAL-style image id of a synthetic sample, e.g. ``train_000007``."""
    return f"{split}_{index:06d}"


def write_pascal_sample(root: Path, image_id: str, sample: dict) -> None:
    """Write one ``render_people_sample`` result in the ATRC ``PASCAL_MT`` file formats."""
    image = np.round(sample["image"] * 255).astype(np.uint8)
    Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg", quality=JPEG_QUALITY)
    Image.fromarray(sample["semseg"]).save(root / "semseg" / "VOC12" / f"{image_id}.png")
    Image.fromarray(sample["sal"]).save(root / "sal_distill" / f"{image_id}.png")
    normals = np.clip(np.round((sample["normals"] + 1) * 127.5), 0, 255).astype(np.uint8)
    Image.fromarray(normals).save(root / "normals_distill" / f"{image_id}.png")
    scipy.io.savemat(
        root / "pascal-context" / "trainval" / f"{image_id}.mat", {"LabelMap": sample["label_map"]}
    )
    # PASCAL-Part: one person object per visible person, its visible parts as part structs
    objects = np.zeros((1, len(sample["people"])), dtype=[(n, "O") for n in (
        "class", "class_ind", "mask", "parts")])  # fmt: skip
    for j, masks in enumerate(sample["people"]):
        parts = np.zeros((1, len(masks)), dtype=[("part_name", "O"), ("mask", "O")])
        for k, (name, mask) in enumerate(masks.items()):
            parts[0, k] = (name, mask.astype(np.uint8))
        union = np.logical_or.reduce(list(masks.values())).astype(np.uint8)
        objects[0, j] = ("person", np.array([[VOC_PERSON]], dtype=np.uint8), union, parts)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (image_id, objects)
    scipy.io.savemat(root / "human_parts" / f"{image_id}.mat", {"anno": anno})


def variant_name(dataset: str, config: SyntheticConfig) -> str:
    """Folder name of a rendered variant; it names everything the content depends on."""
    return (
        f"{dataset}-v{VARIANT_VERSIONS[dataset]}-{config.height}x{config.width}"
        f"-train{config.num_train}-val{config.num_val}-seed{config.seed}"
    )


def ensure_dataset_rendered(
    cache_dir: str | Path, dataset: str, config: SyntheticConfig, workers: int = 1
) -> Path:
    """The root of synthetic dataset ``dataset`` in ``cache_dir``, rendered now if not cached.

    A name of ``VARIANTS`` renders that variant, any other the NYUv2-like scenes (``synthetic``).
    """
    if dataset in VARIANTS:
        return ensure_variant_rendered(cache_dir, dataset, config, workers)
    return ensure_rendered(cache_dir, config, workers=workers)


def ensure_variant_rendered(
    cache_dir: str | Path, dataset: str, config: SyntheticConfig, workers: int = 1
) -> Path:
    """Render variant ``dataset`` into ``cache_dir`` unless it is there already; its root.

    Rendered into a temporary sibling folder and moved into place at once (a root with a manifest
    is complete); when another process finishes first, its copy is kept.

    Raises:
        ConfigError: an unknown variant.
        DataError: the root exists without a manifest (not written by this function).
    """
    if dataset not in VARIANTS:
        raise ConfigError(f"unknown synthetic variant {dataset!r}; choose one of {VARIANTS}")
    cache_dir = Path(cache_dir)
    root = cache_dir / variant_name(dataset, config)
    if (root / MANIFEST_NAME).is_file():
        return root
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root} exists but has no {MANIFEST_NAME}; delete it to render again")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=cache_dir))
    try:
        _render_all(partial, dataset, config, workers)
        try:
            os.replace(partial, root)
        except OSError:
            if not (root / MANIFEST_NAME).is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def _render_all(folder: Path, dataset: str, config: SyntheticConfig, workers: int) -> None:
    sizes = {"train": config.num_train, "val": config.num_val}
    if dataset == "synthetic_pascal":
        for name in PASCAL_FOLDERS:
            (folder / name).mkdir(parents=True)
        for split in CACHED_SPLITS:
            ids = [pascal_image_id(split, i) for i in range(sizes[split])]
            (folder / "ImageSets" / "Context" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    jobs = [
        (str(folder), dataset, config.seed, split, index, config.height, config.width)
        for split in CACHED_SPLITS
        for index in range(sizes[split])
    ]
    run_jobs(_render_job, jobs, workers)
    manifest = {
        "dataset": dataset,
        "version": VARIANT_VERSIONS[dataset],
        "config": asdict(config),
        "splits": sizes,
        "classes": list(LABEL7_CLASSES) if dataset == "synthetic_cityscapes" else "VOC 21",
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


def _render_job(job: tuple[str, str, int, str, int, int, int]) -> None:
    folder, dataset, seed, split, index, height, width = job
    sample = render_variant_sample(dataset, seed, split, index, height, width)
    if dataset == "synthetic_pascal":
        write_pascal_sample(Path(folder), pascal_image_id(split, index), sample)
    else:
        arrays = {key: sample[key] for key in ("image", "semseg", "depth")}
        write_mtpsl_sample(folder, split, index, arrays, CityscapesDataset.TASK_FOLDERS)
