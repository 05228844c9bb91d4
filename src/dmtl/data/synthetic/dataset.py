"""Synthetic NYUv2-like indoor scenes with exact dense labels, rendered offline and cached.

``render_sample`` ray casts one random room (``synthetic_scene``, ``synthetic_render``) and returns
its image and labels in the MTPSL NYUv2 file formats, with sensor-like invalid pixels: depth holes
(random blobs, window glass, grazing surfaces) and unlabelled blobs. ``ensure_rendered`` writes a
whole dataset once, atomically, in the MTPSL layout that ``dmtl.data.readers.nyuv2`` reads.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import multiprocessing.pool
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dmtl.data.synthetic.objects import IGNORE_LABEL, NYU13_CLASSES
from dmtl.data.synthetic.render import FOCAL_FRACTION, render_scene
from dmtl.data.synthetic.scene import Scene, sample_scene
from dmtl.errors import ConfigError, DataError

__all__ = [
    "GENERATOR_VERSION", "NYU13_CLASSES", "SyntheticConfig", "dataset_name", "ensure_rendered",
    "render_sample", "run_jobs", "scene_of", "semantic_edges", "worker_pool",
]  # fmt: skip

log = logging.getLogger(__name__)

# Bump whenever the output of render_sample changes, so old caches are never reused.
GENERATOR_VERSION = 1
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
CACHED_SPLITS = ("train", "val")
MODALITIES = ("image", "label", "depth", "normal", "edge")
MANIFEST_NAME = "manifest.json"
MIN_IMAGE_SIZE = 8
MAX_DEPTH = 10.0  # m, range of a Kinect-like depth sensor
GRAZING_COS = 0.08  # depth sensors miss surfaces seen more obliquely than ~85 degrees
JOB_CHUNKS_PER_WORKER = 8
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and seed of a synthetic dataset (a nested config of the data module).

    Attributes:
        height: image height in pixels.
        width: image width in pixels (focal length 0.81 * width, NYUv2-like field of view).
        num_train: number of training samples.
        num_val: number of validation samples.
        seed: dataset seed; sample i of split s is fixed by (seed, s, i).
    """

    height: int = 64
    width: int = 80
    num_train: int = 1000
    num_val: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.height, self.width) < MIN_IMAGE_SIZE:
            raise ConfigError(
                f"synthetic images must be at least {MIN_IMAGE_SIZE} pixels on each side, "
                f"got {self.height}x{self.width}"
            )
        if self.num_train < 1 or self.num_val < 1:
            raise ConfigError(
                f"synthetic splits need at least one sample, got num_train={self.num_train}, "
                f"num_val={self.num_val}"
            )
        if self.seed < 0:
            raise ConfigError(f"the synthetic seed must be >= 0, got {self.seed}")


def render_sample(
    seed: int, split: str, index: int, height: int, width: int
) -> dict[str, np.ndarray]:
    """Render sample ``index`` of ``split``: bit-identical for the same arguments.

    The scene depends on (seed, split, index) only, not on the image size.

    Returns:
        ``image`` (H, W, 3) in [0, 1]; ``label`` (H, W) NYU-13 class ids, -1 = unlabelled;
        ``depth`` (H, W, 1) z-depth in metres, 0 = invalid; ``normal`` (H, W, 3) unit normals in
        the OpenCV camera frame facing the camera, all-zero where depth is invalid; ``edge``
        (H, W) in {0, 1}, object boundaries one pixel wide on the nearer side. All float32.

    Raises:
        ConfigError: unknown split, negative seed or index, or an image side below 8 pixels.
    """
    if min(height, width) < MIN_IMAGE_SIZE:
        raise ConfigError(f"image sides must be >= {MIN_IMAGE_SIZE}, got {height}x{width}")
    scene_rng, noise_rng = _generators(seed, split, index)
    scene = sample_scene(scene_rng)
    view = render_scene(scene, height, width, noise_rng)
    holes = (
        _blob_mask(scene.hole_blobs, height, width)
        | view.glass
        | (view.view_cos < GRAZING_COS)
        | (view.depth > MAX_DEPTH)
    )
    unlabelled = _blob_mask(scene.ignore_blobs, height, width)
    return {
        "image": view.image,
        "label": np.where(unlabelled, IGNORE_LABEL, view.label).astype(np.float32),
        "depth": np.where(holes, 0.0, view.depth).astype(np.float32)[..., None],
        "normal": np.where(holes[..., None], 0.0, view.normal).astype(np.float32),
        "edge": semantic_edges(view.instance, view.depth).astype(np.float32),
    }


def scene_of(seed: int, split: str, index: int) -> Scene:
    """The scene that ``render_sample(seed, split, index, ...)`` renders (any image size)."""
    return sample_scene(_generators(seed, split, index)[0])


def _generators(
    seed: int, split: str, index: int
) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators of the scene and of the sensor noise of one sample.

    The scene's draws come first and never depend on the image size, so a sample shows the same
    room at every resolution.
    """
    if split not in SPLIT_CODES:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CODES)}")
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    scene_rng, noise_rng = np.random.default_rng([seed, SPLIT_CODES[split], index]).spawn(2)
    return scene_rng, noise_rng


def semantic_edges(instance: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Object boundaries (H, W) bool, one pixel wide.

    Of two 4-neighbours on different objects, the nearer one (smaller depth, ties broken by the
    smaller id) is the edge pixel, so a boundary is marked on the occluding side only.

    Args:
        instance: (H, W) object ids.
        depth: (H, W) depth without holes.
    """
    edge = np.zeros(instance.shape, dtype=bool)
    for axis in (0, 1):
        first = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        second = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        differ = instance[first] != instance[second]
        za, zb = depth[first], depth[second]
        first_in_front = (za < zb) | ((za == zb) & (instance[first] < instance[second]))
        edge[first] |= differ & first_in_front
        edge[second] |= differ & ~first_in_front
    return edge


def _blob_mask(blobs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Union (H, W) of ellipses given in fractions of the image (see ``Scene.hole_blobs``)."""
    mask = np.zeros((height, width), dtype=bool)
    # Coordinates in image widths, so that the ellipses keep their shape at any aspect ratio.
    x = (np.arange(width, dtype=np.float32) + 0.5) / width
    y = ((np.arange(height, dtype=np.float32) + 0.5) / width)[:, None]
    for cx, cy, a, b, angle in blobs:
        dx, dy = x - cx, y - cy * height / width
        c, s = math.cos(angle), math.sin(angle)
        mask |= ((c * dx + s * dy) / a) ** 2 + ((c * dy - s * dx) / b) ** 2 <= 1
    return mask


def dataset_name(config: SyntheticConfig) -> str:
    """Folder name of a rendered dataset; it names everything the content depends on."""
    return (
        f"synthetic-v{GENERATOR_VERSION}-{config.height}x{config.width}"
        f"-train{config.num_train}-val{config.num_val}-seed{config.seed}"
    )


def ensure_rendered(cache_dir: str | Path, config: SyntheticConfig, workers: int = 1) -> Path:
    """Render the dataset into ``cache_dir`` unless it is there already; its root.

    Layout: ``root/{train,val}/{image,label,depth,normal,edge}/{i}.npy`` for i = 0..N-1 and
    ``root/manifest.json``. The dataset is rendered into a temporary sibling folder and moved into
    place at once, so a root with a manifest is always complete; when another process finishes
    first, its copy is kept.

    Args:
        cache_dir: folder that holds rendered datasets (created if missing).
        config: what to render.
        workers: rendering processes; the files do not depend on it.

    Raises:
        DataError: the root exists without a manifest (not written by this function).
    """
    cache_dir = Path(cache_dir)
    root = cache_dir / dataset_name(config)
    if (root / MANIFEST_NAME).is_file():
        return root
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root} exists but has no {MANIFEST_NAME}; delete it to render again")
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "rendering synthetic dataset %s (%d training and %d validation scenes of %dx%d, %d "
        "worker(s)); later runs reuse it",
        root, config.num_train, config.num_val, config.height, config.width, workers,
    )  # fmt: skip
    start = time.perf_counter()
    partial = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=cache_dir))
    try:
        _render_all(partial, config, workers)
        try:
            os.replace(partial, root)
        except OSError:
            if not (root / MANIFEST_NAME).is_file():
                raise
            return root  # another process won the race; its copy is identical
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("rendered synthetic dataset %s in %.1f s", root, time.perf_counter() - start)
    return root


def _render_all(folder: Path, config: SyntheticConfig, workers: int) -> None:
    """Write every sample and then the manifest into ``folder``."""
    sizes = {"train": config.num_train, "val": config.num_val}
    for split in CACHED_SPLITS:
        for name in MODALITIES:
            (folder / split / name).mkdir(parents=True)
    jobs = [
        (str(folder), config.seed, split, index, config.height, config.width)
        for split in CACHED_SPLITS
        for index in range(sizes[split])
    ]
    run_jobs(_render_job, jobs, workers)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
        "splits": sizes,
        "modalities": list(MODALITIES),
        "classes": list(NYU13_CLASSES),
        "focal_length_px": FOCAL_FRACTION * config.width,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


def run_jobs(render: Callable[[tuple], None], jobs: list[tuple], workers: int) -> None:
    """Run independent render jobs in this process (one worker) or in a spawned ``worker_pool``.

    Each job writes its own files, so the order does not matter and any worker count gives the
    same files. ``render`` must be a module-level function (it is pickled to the workers).
    """
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        for job in jobs:
            render(job)
        return
    with worker_pool(workers) as pool:
        chunk = max(1, len(jobs) // (workers * JOB_CHUNKS_PER_WORKER))
        for _ in pool.imap_unordered(render, jobs, chunksize=chunk):
            pass


def worker_pool(workers: int) -> multiprocessing.pool.Pool:
    """A process pool for rendering, its workers limited to one BLAS thread each.

    The renderer's thin matrix products are fastest single-threaded; BLAS threads of several
    workers would fight over the cores. Workers are spawned, not forked (the caller may hold
    threads or a CUDA context), and take the thread limit from the environment they inherit.
    """
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(BLAS_THREAD_VARIABLES, "1"))
    try:
        return multiprocessing.get_context("spawn").Pool(workers)  # starts the workers now
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _render_job(job: tuple[str, int, str, int, int, int]) -> None:
    folder, seed, split, index, height, width = job
    sample = render_sample(seed, split, index, height, width)
    for name in MODALITIES:
        np.save(Path(folder) / split / name / f"{index}.npy", sample[name])
