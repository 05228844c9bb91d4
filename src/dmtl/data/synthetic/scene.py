"""Random indoor scenes for the synthetic renderer: room, camera, light and solid primitives.

World frame: x and y horizontal, z up; the room is the box [0, Lx] x [0, Ly] x [0, Lz]. The camera
stands near the wall y = 0 and looks into the room, furniture stands along the three other walls and
in the middle (see ``synthetic_rooms``). Everything here is resolution independent: a scene
depends on the random generator only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmtl.data.synthetic.objects import (
    CEILING_SURFACE,
    FLOOR_SURFACE,
    NUM_ROOM_SURFACES,
    ROOM_LABELS,
    SPHERE,
    TEX_CARPET,
    TEX_CEILING,
    TEX_FLOOR_TILE,
    TEX_FLOOR_WOOD,
    TEX_WALL,
    Layout,
)
from dmtl.data.synthetic.rooms import furnish

# Room and camera ranges (metres, radians), NYUv2-like: bedrooms, living rooms, offices.
ROOM_X = (2.8, 4.8)
ROOM_Y = (3.0, 5.5)
ROOM_Z = (2.4, 3.0)
CAMERA_WALL_DISTANCE = (0.25, 0.9)
CAMERA_X_FRACTION = (0.3, 0.7)
CAMERA_HEIGHT = (1.0, 1.7)
CAMERA_HEADING = math.radians(35.0)
CAMERA_PITCH = (math.radians(-32.0), math.radians(-2.0))
CAMERA_ROLL = math.radians(3.0)

# Point light near the ceiling; shading = albedo * (ambient + power * cos / (1 + (d / falloff)^2)).
LIGHT_X_FRACTION = (0.2, 0.8)
LIGHT_Y_FRACTION = (0.3, 0.8)
LIGHT_BELOW_CEILING = (0.15, 0.35)
LIGHT_POWER = (1.1, 1.7)
LIGHT_FALLOFF = 3.0
AMBIENT = (0.22, 0.38)
EXPOSURE = (0.9, 1.1)
WARM_LIGHT = (1.0, 0.95, 0.85)
COOL_LIGHT = (0.92, 0.97, 1.0)

# Procedural noise: sums of plane waves with random directions; low for walls, high for fabric.
NUM_WAVES = 4
LOW_FREQUENCY = (1.5, 6.0)  # rad / m
HIGH_FREQUENCY = (25.0, 60.0)
HASH_SIZE = 64

# Invalid-pixel blobs, in fractions of the image width (resolution independent).
HOLE_BLOBS = (0, 4)  # [low, high) number of depth-hole blobs
IGNORE_BLOBS = (0, 3)
BLOB_PARTS = (1, 4)  # ellipses per blob, for irregular outlines
BLOB_AXIS = (0.012, 0.05)

WALL_COLORS = (
    (0.86, 0.84, 0.78),
    (0.80, 0.83, 0.86),
    (0.88, 0.80, 0.70),
    (0.74, 0.80, 0.72),
    (0.91, 0.89, 0.86),
    (0.70, 0.72, 0.80),
    (0.85, 0.75, 0.75),
    (0.62, 0.66, 0.64),
)
FLOOR_COLORS = (
    (0.55, 0.38, 0.24),
    (0.70, 0.55, 0.38),
    (0.42, 0.30, 0.22),
    (0.60, 0.60, 0.58),
    (0.35, 0.38, 0.45),
    (0.75, 0.72, 0.66),
    (0.50, 0.42, 0.40),
)
CEILING_COLOR = (0.93, 0.93, 0.91)
WALL_STRIPE_PROBABILITY = 0.25
WALL_STRIPE_PERIOD = (0.1, 0.4)
FLOOR_SCALE = {TEX_FLOOR_WOOD: (0.09, 0.2), TEX_FLOOR_TILE: (0.3, 0.6), TEX_CARPET: (1.0, 1.0)}


@dataclass(frozen=True)
class Scene:
    """One random room with its camera, light, primitives and invalid-pixel blobs.

    Attributes:
        room: (3,) room size (Lx, Ly, Lz) in metres.
        cam_pos: (3,) camera centre in world coordinates.
        cam_rot: (3, 3) camera-to-world rotation; its columns are the camera x (right), y (down)
            and z (forward) axes in world coordinates (OpenCV camera frame).
        light_pos: (3,) point light position.
        light_color: (3,) light colour times power.
        ambient: ambient light level.
        exposure: global image gain.
        room_albedo: (6, 3) base colour of each room surface (WALL_X0 .. CEILING_SURFACE).
        floor_texture: TEX_FLOOR_WOOD, TEX_FLOOR_TILE or TEX_CARPET.
        floor_albedo2: (3,) second floor colour (tiles).
        floor_scale: plank width or tile size in metres.
        wall_stripes: wallpaper stripe period in metres, 0 for plain walls.
        waves: (2 * NUM_WAVES, 4) noise plane waves (wave vector, phase); low frequencies first.
        hash_table: (HASH_SIZE,) uniform numbers that vary planks, tiles and books.
        layout: the furniture and decorations (primitives).
        hole_blobs: (k, 5) depth-hole ellipses (centre x, centre y, semi-axes a, b, angle).
        ignore_blobs: (k, 5) unlabelled ellipses, same format.
    """

    room: np.ndarray
    cam_pos: np.ndarray
    cam_rot: np.ndarray
    light_pos: np.ndarray
    light_color: np.ndarray
    ambient: float
    exposure: float
    room_albedo: np.ndarray
    floor_texture: int
    floor_albedo2: np.ndarray
    floor_scale: float
    wall_stripes: float
    waves: np.ndarray
    hash_table: np.ndarray
    layout: Layout
    hole_blobs: np.ndarray
    ignore_blobs: np.ndarray


def camera_rotation(heading: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation (3, 3) of a camera turned ``heading`` from +y towards +x.

    Args:
        heading: rotation about the vertical axis; 0 looks along +y.
        pitch: elevation of the optical axis; negative looks down.
        roll: rotation about the optical axis.
    """
    forward = np.array(
        [math.sin(heading) * math.cos(pitch), math.cos(heading) * math.cos(pitch), math.sin(pitch)]
    )
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rolled_right = math.cos(roll) * right + math.sin(roll) * down
    rolled_down = -math.sin(roll) * right + math.cos(roll) * down
    return np.stack([rolled_right, rolled_down, forward], axis=1).astype(np.float32)


def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw one random scene; the same generator state gives the same scene."""
    room = np.array([rng.uniform(*ROOM_X), rng.uniform(*ROOM_Y), rng.uniform(*ROOM_Z)])
    cam_pos = np.array([
        rng.uniform(*CAMERA_X_FRACTION) * room[0],
        rng.uniform(*CAMERA_WALL_DISTANCE),
        rng.uniform(*CAMERA_HEIGHT),
    ])  # fmt: skip
    cam_rot = camera_rotation(
        rng.uniform(-CAMERA_HEADING, CAMERA_HEADING),
        rng.uniform(*CAMERA_PITCH),
        rng.uniform(-CAMERA_ROLL, CAMERA_ROLL),
    )
    layout = furnish(rng, room, cam_pos)

    light_pos = np.array([
        rng.uniform(*LIGHT_X_FRACTION) * room[0],
        rng.uniform(*LIGHT_Y_FRACTION) * room[1],
        room[2] - rng.uniform(*LIGHT_BELOW_CEILING),
    ])  # fmt: skip
    tint = WARM_LIGHT if rng.uniform() < 0.5 else COOL_LIGHT
    light_color = np.asarray(tint) * rng.uniform(*LIGHT_POWER)

    room_albedo = np.empty((NUM_ROOM_SURFACES, 3))
    wall = np.asarray(WALL_COLORS[rng.integers(len(WALL_COLORS))])
    # Walls of one room share a paint colour, with a slight per-wall difference in brightness.
    room_albedo[:FLOOR_SURFACE] = wall * rng.uniform(0.93, 1.05, size=(FLOOR_SURFACE, 1))
    floor_texture = int(rng.choice((TEX_FLOOR_WOOD, TEX_FLOOR_TILE, TEX_CARPET)))
    room_albedo[FLOOR_SURFACE] = FLOOR_COLORS[rng.integers(len(FLOOR_COLORS))]
    room_albedo[CEILING_SURFACE] = CEILING_COLOR
    floor_albedo2 = room_albedo[FLOOR_SURFACE] * rng.uniform(0.6, 1.3, size=3)

    waves = np.empty((2 * NUM_WAVES, 4))
    directions = rng.normal(size=(2 * NUM_WAVES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    frequency = np.concatenate(
        [rng.uniform(*LOW_FREQUENCY, NUM_WAVES), rng.uniform(*HIGH_FREQUENCY, NUM_WAVES)]
    )
    waves[:, :3] = directions * frequency[:, None]
    waves[:, 3] = rng.uniform(0.0, 2.0 * math.pi, 2 * NUM_WAVES)

    striped = rng.uniform() < WALL_STRIPE_PROBABILITY
    stripes = float(rng.uniform(*WALL_STRIPE_PERIOD)) if striped else 0.0
    return Scene(
        room=room.astype(np.float32),
        cam_pos=cam_pos.astype(np.float32),
        cam_rot=cam_rot,
        light_pos=light_pos.astype(np.float32),
        light_color=light_color.astype(np.float32),
        ambient=float(rng.uniform(*AMBIENT)),
        exposure=float(rng.uniform(*EXPOSURE)),
        room_albedo=np.clip(room_albedo, 0.0, 1.0).astype(np.float32),
        floor_texture=floor_texture,
        floor_albedo2=np.clip(floor_albedo2, 0.0, 1.0).astype(np.float32),
        floor_scale=float(rng.uniform(*FLOOR_SCALE[floor_texture])),
        wall_stripes=stripes,
        waves=waves.astype(np.float32),
        hash_table=rng.uniform(size=HASH_SIZE).astype(np.float32),
        layout=layout,
        hole_blobs=_sample_blobs(rng, HOLE_BLOBS),
        ignore_blobs=_sample_blobs(rng, IGNORE_BLOBS),
    )


def _sample_blobs(rng: np.random.Generator, count: tuple[int, int]) -> np.ndarray:
    """Irregular blobs as clusters of ellipses, (k, 5) rows of (cx, cy, a, b, angle)."""
    ellipses = []
    for _ in range(rng.integers(*count)):
        center = rng.uniform(0.05, 0.95, size=2)
        for _ in range(rng.integers(*BLOB_PARTS)):
            offset = rng.normal(scale=BLOB_AXIS[1], size=2)
            axes = rng.uniform(*BLOB_AXIS, size=2)
            ellipses.append([*(center + offset), *axes, rng.uniform(0.0, math.pi)])
    return np.asarray(ellipses, dtype=np.float32).reshape(-1, 5)


@dataclass(frozen=True)
class SurfaceTable:
    """A scene's primitives and surfaces as arrays, for vectorised rendering.

    With P primitives and S = NUM_ROOM_SURFACES + P surfaces (room surfaces first):

    Attributes:
        kind: (P,) BOX, SPHERE or CYLINDER.
        center: (P, 3) float32 centres.
        half: (P, 3) float32 half extents (see ``Primitive``).
        cos: (P,) float32 cosine of the box yaw.
        sin: (P,) float32 sine of the box yaw.
        radius: (P,) float32 radius of a bounding sphere about ``center``.
        label: (S,) int32 NYU-13 class per surface (IGNORE_LABEL for clutter).
        instance: (S,) int32 object id per surface (room surfaces are their own objects).
        texture: (S,) int32 TEX_* code per surface.
        albedo: (S, 3) float32 base colours.
        albedo2: (S, 3) float32 second colours.
        params: (S, 4) float32 texture parameters in [0, 1).
    """

    kind: np.ndarray
    center: np.ndarray
    half: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    radius: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    texture: np.ndarray
    albedo: np.ndarray
    albedo2: np.ndarray
    params: np.ndarray


def surface_table(scene: Scene) -> SurfaceTable:
    """Pack the scene's room surfaces and primitives into a ``SurfaceTable``."""
    prims = scene.layout.primitives
    kind = np.array([p.kind for p in prims], dtype=np.int32)
    half = np.array([p.half for p in prims], dtype=np.float32).reshape(-1, 3)
    yaw = np.array([p.yaw for p in prims], dtype=np.float64)
    # Bounding spheres: a box's half diagonal, a cylinder's half diagonal through its axis.
    radius = np.where(kind == SPHERE, half[:, 0], np.linalg.norm(half, axis=1))
    room_textures = [TEX_WALL] * FLOOR_SURFACE + [scene.floor_texture, TEX_CEILING]
    room_albedo2 = scene.room_albedo.copy()
    room_albedo2[FLOOR_SURFACE] = scene.floor_albedo2
    room_params = np.zeros((NUM_ROOM_SURFACES, 4))
    return SurfaceTable(
        kind=kind,
        center=np.array([p.center for p in prims], dtype=np.float32).reshape(-1, 3),
        half=half,
        cos=np.cos(yaw).astype(np.float32),
        sin=np.sin(yaw).astype(np.float32),
        radius=radius.astype(np.float32),
        label=np.array(list(ROOM_LABELS) + [p.label for p in prims], dtype=np.int32),
        instance=np.array(
            list(range(NUM_ROOM_SURFACES)) + [p.instance for p in prims], dtype=np.int32
        ),
        texture=np.array(room_textures + [p.texture for p in prims], dtype=np.int32),
        albedo=_stack(scene.room_albedo, [p.albedo for p in prims]),
        albedo2=_stack(room_albedo2, [p.albedo2 for p in prims]),
        params=_stack(room_params, [p.params for p in prims]),
    )


def _stack(room: np.ndarray, rows: list[tuple[float, ...]]) -> np.ndarray:
    """Room rows followed by primitive rows, as float32 (works without primitives too)."""
    return np.concatenate([room, np.array(rows).reshape(-1, room.shape[1])]).astype(np.float32)
