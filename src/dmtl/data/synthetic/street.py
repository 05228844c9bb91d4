"""Cityscapes-like street scenes for the synthetic renderer: 7 classes and inverse depth.

The indoor renderer's room box becomes a street canyon seen from a car: the floor is the road,
the side walls are facades, the far wall is the end of the street and the ceiling is the sky. In it
stand sidewalks, protruding facades, parked and driving cars, trees, poles with signs, and
pedestrians (the mannequins of ``synthetic_people``). Labels are Cityscapes' 7 categories as MTAN's
``label_7`` numbers them (``LABEL7_CLASSES``, -1 void); depth is inverse depth in MTAN's units, 0
where stereo has none (sky, the ego car's bonnet, random holes), as ``dmtl.data.readers.cityscapes``
reads it.
"""

from __future__ import annotations

import math

import numpy as np

from dmtl.data.synthetic.objects import (
    BOX,
    CYLINDER,
    NUM_ROOM_SURFACES,
    SPHERE,
    TEX_CARPET,
    TEX_FABRIC,
    TEX_FLOOR_TILE,
    TEX_PLAIN,
    TEX_SCREEN,
    TEX_WALL,
    WALL_X0,
    WALL_X1,
    WALL_Y1,
    Layout,
)  # fmt: skip
from dmtl.data.synthetic.people import add_person
from dmtl.data.synthetic.render import camera_rays, render_scene
from dmtl.data.synthetic.scene import HASH_SIZE, NUM_WAVES, Scene, camera_rotation

LABEL7_CLASSES = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
FLAT, CONSTRUCTION, OBJECT, NATURE, SKY, HUMAN, VEHICLE = range(len(LABEL7_CLASSES))
# Room surfaces (WALL_X0, WALL_X1, WALL_Y0, WALL_Y1, floor, ceiling) -> class
ROOM_CLASSES = np.array([CONSTRUCTION] * 4 + [FLAT, SKY])
# MTAN's Cityscapes depth is the disparity PNG value / 65535, i.e. (256 d + 1) / 65535 with the
# disparity d = B f / z pixels (B = 0.209313 m, f = 2262.52 px): inverse depth = DISPARITY_UNIT / z
# (the +1 offset is dropped). Its largest value, 0.4922, is a point 3.8 m away.
DISPARITY_UNIT = 256 * 0.209313 * 2262.52 / 65535  # metres, about 1.85

STREET_WIDTH = (14.0, 24.0)  # m, facade to facade
STREET_LENGTH = (60.0, 140.0)
SKY_HEIGHT = (7.0, 18.0)  # the ceiling: facades end there
SIDEWALK = (2.0, 4.0)
CURB = 0.15
CAMERA_HEIGHT = (1.2, 1.6)  # a windscreen camera
CAMERA_HEADING = math.radians(8.0)
CAMERA_PITCH = (math.radians(-6.0), math.radians(1.0))
CAMERA_ROLL = math.radians(1.0)
SUN_DISTANCE = 1000.0  # m: a far point light is a sun
SUN_ELEVATION = (math.radians(25.0), math.radians(65.0))
AMBIENT = (0.3, 0.45)
SKY_HORIZON, SKY_ZENITH = np.array((0.80, 0.86, 0.92)), np.array((0.38, 0.56, 0.85))
HOLE_PROBABILITY = 0.02  # pixels without a stereo match, besides the sky
BONNET_HEIGHT = (0.03, 0.1)  # fraction of the image height the ego car's bonnet takes at the centre
BONNET_HALF_WIDTH = 0.65  # fraction of the image width
VOID = 255  # ignore in the sample format (-1 in label_7 files)
FACADES = ((0.75, 0.70, 0.62), (0.62, 0.58, 0.55), (0.85, 0.80, 0.72), (0.55, 0.40, 0.32),
           (0.70, 0.72, 0.75), (0.45, 0.45, 0.48))  # fmt: skip
CARS = ((0.85, 0.85, 0.85), (0.1, 0.1, 0.12), (0.6, 0.1, 0.1), (0.2, 0.3, 0.6), (0.5, 0.5, 0.52))
GREY = ((0.45, 0.45, 0.46), (0.55, 0.54, 0.52))
TRUNK, LEAVES = ((0.35, 0.25, 0.18),), ((0.2, 0.42, 0.16), (0.3, 0.5, 0.2), (0.18, 0.35, 0.2))


def _car(lay: Layout, x: float, y: float, yaw: float) -> None:
    """A car on free road: body, cabin and four wheels (vehicle), its length along the frame's y."""
    rng = lay.rng
    width, length = rng.uniform(1.7, 1.95), rng.uniform(3.8, 4.9)
    color, frame = lay.color(CARS), (x, y, yaw)
    if not lay.claim(frame, width, length):
        return
    inst = lay.new_instance()
    lay.add(frame, inst, VEHICLE, BOX, (0, 0, 0.65), (width / 2, length / 2, 0.35), color,
            TEX_PLAIN)  # fmt: skip
    lay.add(frame, inst, VEHICLE, BOX, (0, -0.1 * length, 1.22),
            (width * 0.44, length * 0.27, 0.23), (0.15, 0.18, 0.22), TEX_SCREEN, color)  # fmt: skip
    for sx in (-1, 1):
        for sy in (-1, 1):
            lay.add(frame, inst, VEHICLE, BOX, (sx * width * 0.42, sy * length * 0.32, 0.32),
                    (0.12, 0.32, 0.32), (0.05, 0.05, 0.05), TEX_PLAIN)  # fmt: skip


def _tree(lay: Layout, x: float, y: float) -> None:
    """A tree (nature): a trunk and a round crown."""
    rng, inst = lay.rng, lay.new_instance()
    trunk, crown = rng.uniform(2.0, 3.5), rng.uniform(1.2, 2.2)
    lay.add((x, y, 0.0), inst, NATURE, CYLINDER, (0, 0, trunk / 2), (0.15, 0.15, trunk / 2),
            lay.color(TRUNK), TEX_PLAIN)  # fmt: skip
    lay.add((x, y, 0.0), inst, NATURE, SPHERE, (0, 0, trunk + crown * 0.8), (crown,) * 3,
            lay.color(LEAVES), TEX_FABRIC)  # fmt: skip


def _pole(lay: Layout, x: float, y: float, yaw: float) -> None:
    """A pole with a sign (object)."""
    rng, inst = lay.rng, lay.new_instance()
    height = rng.uniform(2.5, 5.0)
    lay.add((x, y, yaw), inst, OBJECT, CYLINDER, (0, 0, height / 2), (0.06, 0.06, height / 2),
            lay.color(GREY), TEX_PLAIN)  # fmt: skip
    lay.add((x, y, yaw), inst, OBJECT, BOX, (0, 0, height), (0.35, 0.03, 0.3), lay.bright_color(),
            TEX_PLAIN)  # fmt: skip


def _furnish_street(lay: Layout, room: np.ndarray, walk: float) -> None:
    """Sidewalks, facades, cars, trees, poles and pedestrians along the street."""
    rng, (lx, ly, lz) = lay.rng, (float(v) for v in room)
    for x0 in (0.0, lx - walk):  # sidewalks: flat, a curb above the road
        grey = lay.color(GREY)
        lay.add((x0 + walk / 2, ly / 2, 0.0), lay.new_instance(), FLAT, BOX, (0, 0, CURB / 2),
                (walk / 2, ly / 2, CURB / 2), grey, TEX_FLOOR_TILE, grey * 0.85)  # fmt: skip
    for side in (-1, 1):  # facades standing out of the side walls by up to 2 m
        y = 0.0
        while y < ly:
            length, depth = rng.uniform(8.0, 25.0), rng.uniform(0.0, 2.0)
            height = rng.uniform(0.4, 1.0) * lz
            x = depth / 2 if side < 0 else lx - depth / 2
            if depth > 0.3:
                lay.add((x, y + length / 2, 0.0), lay.new_instance(), CONSTRUCTION, BOX,
                        (0, 0, height / 2), (depth / 2, length / 2, height / 2),
                        lay.color(FACADES), TEX_WALL)  # fmt: skip
            y += length
        curb_x = walk - 0.6 if side < 0 else lx - walk + 0.6
        for _ in range(rng.integers(1, 5)):  # trees and poles near the curb
            y = rng.uniform(6.0, ly * 0.6)
            if not lay.claim((curb_x, y, 0.0), 0.4, 0.4):
                continue
            if rng.uniform() < 0.5:
                _tree(lay, curb_x, y)
            else:
                _pole(lay, curb_x, y, rng.uniform(-0.3, 0.3))
        lane = walk + 1.1 if side < 0 else lx - walk - 1.1
        for _ in range(rng.integers(0, 5)):  # parked cars
            _car(lay, lane, rng.uniform(5.0, ly * 0.7), rng.normal(scale=0.03))
        for _ in range(rng.choice(4, p=(0.3, 0.35, 0.25, 0.1))):  # pedestrians on the sidewalk
            x = (walk / 2 if side < 0 else lx - walk / 2) + rng.uniform(-0.6, 0.6)
            frame = (x, rng.uniform(4.0, 35.0), rng.uniform(-math.pi, math.pi))
            if lay.claim(frame, 0.6, 0.4):
                add_person(lay, frame, rng.uniform(1.5, 1.9), HUMAN, base=CURB)
    for _ in range(rng.integers(0, 4)):  # driving cars in both lanes
        lane = lx / 2 + rng.choice((-1.0, 1.0)) * rng.uniform(1.2, 2.0)
        _car(lay, lane, rng.uniform(8.0, ly * 0.6), rng.choice((0.0, math.pi)))


def street_scene(rng: np.random.Generator) -> Scene:
    """Draw one random street; the same generator state gives the same scene."""
    room = np.array([rng.uniform(*STREET_WIDTH), rng.uniform(*STREET_LENGTH),
                     rng.uniform(*SKY_HEIGHT)])  # fmt: skip
    walk = rng.uniform(*SIDEWALK)
    cam_pos = np.array([room[0] / 2 + rng.uniform(0.8, 1.8), rng.uniform(0.5, 3.0),
                        rng.uniform(*CAMERA_HEIGHT)])  # fmt: skip
    cam_rot = camera_rotation(
        rng.uniform(-CAMERA_HEADING, CAMERA_HEADING),
        rng.uniform(*CAMERA_PITCH),
        rng.uniform(-CAMERA_ROLL, CAMERA_ROLL),
    )
    layout = Layout(rng, room, cam_pos)
    _furnish_street(layout, room, walk)
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(*SUN_ELEVATION)
    sun = SUN_DISTANCE * np.array(
        [
            math.cos(azimuth) * math.cos(elevation),
            math.sin(azimuth) * math.cos(elevation),
            math.sin(elevation),
        ]
    )
    # The renderer's falloff 1 / (1 + (d / 3 m)^2) is undone at the sun's distance.
    power = rng.uniform(0.9, 1.3) * (1 + (SUN_DISTANCE / 3.0) ** 2)
    room_albedo = np.empty((NUM_ROOM_SURFACES, 3))
    for wall in (WALL_X0, WALL_X1, WALL_Y1, 2):
        room_albedo[wall] = layout.color(FACADES)
    room_albedo[4] = rng.uniform(0.28, 0.4) * np.ones(3)  # asphalt
    room_albedo[5] = SKY_ZENITH
    waves = np.empty((2 * NUM_WAVES, 4))
    directions = rng.normal(size=(2 * NUM_WAVES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    waves[:, :3] = directions * rng.uniform(0.5, 4.0, size=(2 * NUM_WAVES, 1))
    waves[:, 3] = rng.uniform(0.0, 2.0 * math.pi, 2 * NUM_WAVES)
    return Scene(
        room=room.astype(np.float32),
        cam_pos=cam_pos.astype(np.float32),
        cam_rot=cam_rot,
        light_pos=(room / 2 + sun).astype(np.float32),
        light_color=(power * np.array((1.0, 0.97, 0.9))).astype(np.float32),
        ambient=float(rng.uniform(*AMBIENT)),
        exposure=float(rng.uniform(0.9, 1.1)),
        room_albedo=room_albedo.astype(np.float32),
        floor_texture=TEX_CARPET,
        floor_albedo2=room_albedo[4].astype(np.float32),
        floor_scale=1.0,
        wall_stripes=float(rng.uniform(2.8, 3.5)),  # storeys
        waves=waves.astype(np.float32),
        hash_table=rng.uniform(size=HASH_SIZE).astype(np.float32),
        layout=layout,
        hole_blobs=np.zeros((0, 5), dtype=np.float32),
        ignore_blobs=np.zeros((0, 5), dtype=np.float32),
    )


def render_street_sample(
    scene_rng: np.random.Generator, noise_rng: np.random.Generator, height: int, width: int
) -> dict[str, np.ndarray]:
    """Render one Cityscapes-like sample.

    Returns:
        ``image`` float32 (H, W, 3) in [0, 1]; ``semseg`` int64 (H, W) ``label_7`` classes, 255 on
        the ego car's bonnet (void, -1 in the files); ``depth`` float32 (H, W) inverse depth
        DISPARITY_UNIT / z, 0 on the sky, the bonnet and random stereo holes; ``z`` float32 (H, W)
        the metric z-depth of the street (inf on the sky).
    """
    scene = street_scene(scene_rng)
    bonnet_height, bonnet_color = scene_rng.uniform(*BONNET_HEIGHT), scene_rng.choice(CARS)
    view = render_scene(scene, height, width, noise_rng)
    room = view.instance < NUM_ROOM_SURFACES
    semseg = np.where(room, ROOM_CLASSES[np.minimum(view.instance, NUM_ROOM_SURFACES - 1)],
                      view.label).astype(np.int64)  # fmt: skip
    sky = semseg == SKY
    # The sky is drawn, not lit: a gradient from the horizon to the zenith by ray elevation.
    rays = camera_rays(height, width) @ scene.cam_rot.T
    up = np.clip(3.0 * rays[..., 2] / np.linalg.norm(rays, axis=-1), 0.0, 1.0)
    image = view.image.copy()
    sky_color = SKY_HORIZON + (SKY_ZENITH - SKY_HORIZON) * up[..., None]
    image[sky] = np.clip(sky_color[sky] + 0.01 * noise_rng.standard_normal((sky.sum(), 3)), 0, 1)
    # The bonnet of the ego car: a parabolic arc along the bottom, void as in Cityscapes.
    u = (np.arange(width) + 0.5) / width - 0.5
    v = ((np.arange(height) + 0.5) / height)[:, None]
    bonnet = v > 1 - bonnet_height * (1 - (u / BONNET_HALF_WIDTH) ** 2)
    image[bonnet] = np.broadcast_to(1.5 - v, bonnet.shape)[bonnet, None] * bonnet_color
    semseg[bonnet] = VOID
    holes = noise_rng.uniform(size=(height, width)) < HOLE_PROBABILITY
    z = np.where(sky, np.inf, view.depth).astype(np.float32)
    invalid = sky | holes | bonnet
    depth = np.where(invalid, 0.0, DISPARITY_UNIT / np.where(sky, 1.0, view.depth))
    return {"image": image.astype(np.float32), "semseg": semseg,
            "depth": depth.astype(np.float32), "z": z}  # fmt: skip
