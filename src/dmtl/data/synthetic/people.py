"""Mannequin-like people for the synthetic scenes, and PASCAL-like indoor samples with people.

A person is ten primitives in a local frame (x across the body, +y towards the front, z up):
a sphere head, a box torso, and vertical cylinders for the upper and lower arms and legs. Each
primitive is its own object, named by its PASCAL-Part part name (``head``, ``torso``, ``luarm``,
...), so the PASCAL reader's mapping (``pascal_annotations.PART_OF``) gives one of the 6 parts.

``render_people_sample`` adds 0–3 people, facing the camera, to a random room of the indoor
generator (``synthetic_scene``), ray casts it with the shared renderer and returns what the
PASCAL-Context files hold: image, 21-class VOC labels, a context label map (the source of the
boundaries and of the normal mask), the part masks of every visible person, saliency and normals.
"""

from __future__ import annotations

import math

import numpy as np

from dmtl.data.synthetic.objects import (
    BOX,
    CHAIR,
    CYLINDER,
    NYU13_CLASSES,
    SOFA,
    SPHERE,
    TABLE,
    TEX_FABRIC,
    TEX_PLAIN,
    TV,
    Frame,
    Layout,
)
from dmtl.data.synthetic.render import render_scene
from dmtl.data.synthetic.scene import Scene, sample_scene

PERSON_CODE = len(NYU13_CLASSES)  # surface label of people, after the NYU-13 classes
VOC_PERSON = 15
# NYU-13 surface label -> VOC class (0 background; chair 9, diningtable 11, sofa 18, tvmonitor 20)
VOC_OF_CODE = np.zeros(PERSON_CODE + 1, dtype=np.uint8)
VOC_OF_CODE[[CHAIR, TABLE, SOFA, TV, PERSON_CODE]] = (9, 11, 18, 20, VOC_PERSON)
# NYU-13 surface label -> PASCAL-Context LabelMap id: bed 18, books 33, ceiling 68, chair 72,
# floor 158, furniture -> cabinet 46, objects -> 37, picture -> 30, sofa 368, table 397,
# tv -> tvmonitor 427, wall 440, window 454, person 284. Every id is one the reader keeps normals
# on (NYU_COMPATIBLE_CLASSES); the ids differ per class, so the boundaries the reader derives from
# this map are exactly the class boundaries.
CONTEXT_OF_CODE = np.array(
    (18, 33, 68, 72, 158, 46, 37, 30, 368, 397, 427, 440, 454, 284), dtype=np.uint16
)
UNLABELLED_CONTEXT = 0
VOC_IGNORE = 255

# The ten part names of a mannequin (PASCAL-Part names, see pascal_annotations.PART_OF), in the
# order add_person creates them.
PART_NAMES = (
    "head",
    "torso",
    "luarm",
    "llarm",
    "luleg",
    "llleg",
    "ruarm",
    "rlarm",
    "ruleg",
    "rlleg",
)
PERSON_HEIGHT = (1.45, 1.9)  # m, adults
CHILD_PROBABILITY = 0.15
CHILD_HEIGHT = (1.0, 1.35)
PEOPLE_COUNT_PROBABILITIES = (0.25, 0.4, 0.25, 0.1)  # 0, 1, 2, 3 people
PERSON_DISTANCE = (1.3, 3.8)  # m from the camera, along the viewing direction
PERSON_BEARING = math.radians(22.0)  # within this angle of the viewing direction
FACING_JITTER = 0.6  # rad around facing the camera
PLACEMENT_TRIES = 12
SKIN = ((0.93, 0.76, 0.62), (0.80, 0.60, 0.45), (0.55, 0.38, 0.26), (0.36, 0.24, 0.16))
CLOTHES = ((0.15, 0.20, 0.45), (0.60, 0.12, 0.12), (0.85, 0.85, 0.80), (0.20, 0.20, 0.22),
           (0.25, 0.45, 0.25), (0.75, 0.55, 0.20), (0.45, 0.30, 0.50))  # fmt: skip
TROUSERS = ((0.12, 0.15, 0.30), (0.20, 0.20, 0.20), (0.45, 0.38, 0.28), (0.30, 0.30, 0.34))


def add_person(
    lay: Layout, frame: Frame, height: float, label: int, base: float = 0.0
) -> dict[int, str]:
    """Add a standing mannequin of ``height`` metres at ``frame``, its feet at height ``base``.

    Body proportions are fractions of the height; each part is its own object.

    Returns:
        {object id: PASCAL-Part part name} of the ten parts; the ids are consecutive, in the
        order of ``PART_NAMES``.
    """
    rng, h = lay.rng, height
    skin, shirt, legs = lay.color(SKIN), lay.color(CLOTHES), lay.color(TROUSERS)
    shoulder = h * rng.uniform(0.1, 0.12)  # half width of the torso
    hip = h * rng.uniform(0.05, 0.06)  # leg axis offset
    arm_gap = h * rng.uniform(0.035, 0.06)  # arm axis outside the torso
    names: dict[int, str] = {}

    def part(name: str, kind: int, center, half, color, texture=TEX_PLAIN) -> None:
        instance = lay.new_instance()
        lay.add(frame, instance, label, kind, (*center[:2], center[2] + base), half, color, texture)
        names[instance] = name

    head = h * 0.065
    part("head", SPHERE, (0, 0, h - head), (head, head, head), skin)
    part("torso", BOX, (0, 0, h * 0.67), (shoulder, h * 0.06, h * 0.15), shirt, TEX_FABRIC)
    for side, x in (("l", -1.0), ("r", 1.0)):  # the person's left is our right: local -x
        arm_x = x * (shoulder + arm_gap)
        part(f"{side}uarm", CYLINDER, (arm_x, 0, h * 0.715), (h * 0.03,) * 2 + (h * 0.095,), shirt)
        part(f"{side}larm", CYLINDER, (arm_x, 0, h * 0.54), (h * 0.026,) * 2 + (h * 0.08,), skin)
        part(f"{side}uleg", CYLINDER, (x * hip, 0, h * 0.4), (h * 0.045,) * 2 + (h * 0.12,), legs)
        part(f"{side}lleg", CYLINDER, (x * hip, 0, h * 0.14), (h * 0.035,) * 2 + (h * 0.14,), legs)
    return names


def add_people(lay: Layout, scene: Scene, count: int, label: int) -> dict[int, str]:
    """Place up to ``count`` people on free floor in front of the camera, roughly facing it.

    Returns:
        {object id: part name} of every part of every placed person.
    """
    rng = lay.rng
    forward = scene.cam_rot[:2, 2] / np.linalg.norm(scene.cam_rot[:2, 2])
    heading = math.atan2(forward[0], forward[1])  # 0 looks along +y, as in camera_rotation
    names: dict[int, str] = {}
    for _ in range(count):
        child = rng.uniform() < CHILD_PROBABILITY
        height = rng.uniform(*(CHILD_HEIGHT if child else PERSON_HEIGHT))
        for _ in range(PLACEMENT_TRIES):
            bearing = heading + rng.uniform(-PERSON_BEARING, PERSON_BEARING)
            distance = rng.uniform(*PERSON_DISTANCE)
            x = float(scene.cam_pos[0]) + distance * math.sin(bearing)
            y = float(scene.cam_pos[1]) + distance * math.cos(bearing)
            to_camera = scene.cam_pos[:2] - (x, y)
            yaw = math.atan2(-to_camera[0], to_camera[1]) + rng.uniform(-1, 1) * FACING_JITTER
            if lay.claim((x, y, yaw), height * 0.36, height * 0.16):
                names.update(add_person(lay, (x, y, yaw), height, label))
                break
    return names


def people_scene(rng: np.random.Generator) -> tuple[Scene, dict[int, str]]:
    """A random room of the indoor generator with 0–3 people; the scene and its part names."""
    scene = sample_scene(rng)
    count = int(rng.choice(len(PEOPLE_COUNT_PROBABILITIES), p=PEOPLE_COUNT_PROBABILITIES))
    return scene, add_people(scene.layout, scene, count, PERSON_CODE)


def render_people_sample(
    scene_rng: np.random.Generator, noise_rng: np.random.Generator, height: int, width: int
) -> dict:
    """Render one PASCAL-like sample.

    Returns:
        ``image`` float32 (H, W, 3) in [0, 1]; ``semseg`` uint8 (H, W) VOC classes, 255 on
        unlabelled clutter; ``label_map`` uint16 (H, W) PASCAL-Context ids, 0 unlabelled;
        ``people`` a list, per visible person, of {part name: bool (H, W) mask} with only the
        visible parts; ``sal`` uint8 (H, W), 255 on people and VOC objects, else 0; ``normals``
        float32 (H, W, 3) camera-frame unit normals (x right, y down, z forward).
    """
    scene, names = people_scene(scene_rng)
    view = render_scene(scene, height, width, noise_rng)
    code = view.label
    labelled = code >= 0
    safe = np.where(labelled, code, 0)
    semseg = np.where(labelled, VOC_OF_CODE[safe], VOC_IGNORE).astype(np.uint8)
    label_map = np.where(labelled, CONTEXT_OF_CODE[safe], UNLABELLED_CONTEXT).astype(np.uint16)
    people = []
    first_parts = sorted(i for i, n in names.items() if n == "head")  # a person's ten ids follow
    for first in first_parts:
        masks = {names[i]: view.instance == i for i in range(first, first + len(PART_NAMES))}
        masks = {n: m for n, m in masks.items() if m.any()}
        if masks:
            people.append(masks)
    salient = (semseg != 0) & (semseg != VOC_IGNORE)
    return {
        "image": view.image,
        "semseg": semseg,
        "label_map": label_map,
        "people": people,
        "sal": np.where(salient, 255, 0).astype(np.uint8),
        "normals": view.normal.astype(np.float32),
    }
