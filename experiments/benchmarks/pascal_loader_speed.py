"""Throughput of the PASCAL-Context reader and its training/evaluation pipelines on one process.

Writes a temporary dataset in the real file formats at PASCAL's typical size (375×500 JPEGs, a
``LabelMap`` of a few dozen regions, one person with parts), then times reading alone and reading
plus the ATRC training transform (scale 0.5–2.0, 512×512 crop, flip, photometric distortion) and
the evaluation padding, for all five tasks, in samples per second of CPU time of one thread (so
that other processes on the machine do not change the number much).

    python experiments/benchmarks/pascal_loader_speed.py --n 40
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from PIL import Image

from dmtl.data.pipelines import build_pascal_eval_transform, build_pascal_train_transform
from dmtl.data.readers.pascal_context import PascalContextDataset

TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]


def write_dataset(root: Path, num: int, height: int, width: int) -> None:
    """``num`` images in the ATRC layout with blocky label maps and one person with two parts."""
    rng = np.random.default_rng(0)
    folders = ["JPEGImages", "ImageSets/Context", "semseg/pascal-context", "human_parts",
               "sal_distill", "normals_distill", "pascal-context/trainval"]  # fmt: skip
    for folder in folders:
        (root / folder).mkdir(parents=True)
    ids = [f"2008_{i:06d}" for i in range(num)]
    (root / "ImageSets/Context/train.txt").write_text("\n".join(ids))
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height // 2, width // 3 : width // 2] = 1
    part = np.zeros((1, 2), dtype=[("part_name", "O"), ("mask", "O")])
    part[0, 0], part[0, 1] = ("head", mask), ("torso", np.roll(mask, height // 4, axis=0))
    objects = np.zeros(
        (1, 1), dtype=[("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    )
    objects[0, 0] = ("person", np.array([[15]], np.uint8), mask, part)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    for image_id in ids:
        blocks = rng.integers(1, 460, (6, 8)).astype(np.float32)
        labels = cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg")
        semseg = (labels % 21).astype(np.uint8)
        Image.fromarray(semseg).save(root / "semseg/pascal-context" / f"{image_id}.png")
        Image.fromarray(image[..., 0]).save(root / "sal_distill" / f"{image_id}.png")
        Image.fromarray(image).save(root / "normals_distill" / f"{image_id}.png")
        anno[0, 0] = (image_id, objects)
        scipy.io.savemat(root / "human_parts" / f"{image_id}.mat", {"anno": anno})
        label_map = {"LabelMap": labels.astype(np.uint16)}
        scipy.io.savemat(root / "pascal-context/trainval" / f"{image_id}.mat", label_map)


def rate(fn, num: int) -> float:
    """Samples per second of process CPU time (robust to other processes sharing the cores)."""
    start = time.process_time()
    for index in range(num):
        fn(index)
    return num / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="images")
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_dataset(root, args.n, args.height, args.width)
        dataset = PascalContextDataset(root, "train", TASKS)
        train = build_pascal_train_transform(seed=0)
        evaluate = build_pascal_eval_transform()
        dataset.load_sample(0)  # warm caches and imports
        read = rate(dataset.load_sample, args.n)
        read_train = rate(lambda i: train(dataset.load_sample(i)), args.n)
        read_eval = rate(lambda i: evaluate(dataset.load_sample(i)), args.n)
    print(f"{args.height}x{args.width}, 5 tasks, {args.n} images, one process, per CPU second:")
    print(f"  read only        {read:7.1f} samples/s")
    print(f"  read + train tf  {read_train:7.1f} samples/s")
    print(f"  read + eval tf   {read_eval:7.1f} samples/s")


if __name__ == "__main__":
    main()
