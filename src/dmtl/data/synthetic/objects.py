"""Solid primitives of the synthetic scenes and the layout that places them in a room.

A ``Layout`` collects boxes, spheres and vertical cylinders in world coordinates (x, y horizontal,
z up, room = [0, Lx] x [0, Ly] x [0, Lz]) and keeps track of the floor and wall space already taken.
Furniture pieces are built in a local frame (x along the width, +y towards the front, z up) and
placed with a ``Frame`` (position and yaw); ``synthetic_furniture`` builds the pieces and
``synthetic_rooms`` composes them into rooms.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np

NYU13_CLASSES: tuple[str, ...] = (
    "bed", "books", "ceiling", "chair", "floor", "furniture", "objects",
    "picture", "sofa", "table", "tv", "wall", "window",
)  # fmt: skip
BED, BOOKS, CEILING, CHAIR, FLOOR, FURNITURE, OBJECTS, PICTURE, SOFA, TABLE, TV, WALL, WINDOW = (
    range(len(NYU13_CLASSES))
)
IGNORE_LABEL = -1

# Primitive kinds.
BOX, SPHERE, CYLINDER = range(3)

# Surface ids: the six room surfaces come first, numbered so that a ray leaving the room through
# the low / high face of axis a hits surface 2a / 2a + 1; primitive p is surface 6 + p.
WALL_X0, WALL_X1, WALL_Y0, WALL_Y1, FLOOR_SURFACE, CEILING_SURFACE = range(6)
NUM_ROOM_SURFACES = 6
ROOM_LABELS = (WALL, WALL, WALL, WALL, FLOOR, CEILING)

# Textures: how the renderer turns a hit point into a colour.
TEX_PLAIN, TEX_WOOD, TEX_FABRIC, TEX_BOOKS, TEX_PICTURE, TEX_WINDOW, TEX_SCREEN = range(7)
TEX_WALL, TEX_CEILING, TEX_FLOOR_WOOD, TEX_FLOOR_TILE, TEX_CARPET = range(7, 12)
NUM_TEXTURES = 12

# The wall behind the camera (y = 0) never comes into view, so nothing is placed there.
WALLS = (WALL_X0, WALL_X1, WALL_Y1)
PLACEMENT_TRIES = 12
WALL_GAP = 0.02  # m between furniture and wall
FOOTPRINT_MARGIN = 0.05  # m kept free between pieces of furniture
CAMERA_CLEARANCE = 0.6  # m kept free around the camera, so no piece fills the whole view
DECORATION_MARGIN = 0.1  # m between pictures / windows on one wall
COLOR_JITTER = 0.12

Frame = tuple[float, float, float]  # (x, y, yaw) of a local furniture frame in the world


@dataclass(frozen=True)
class Primitive:
    """One solid of a scene in world coordinates.

    Attributes:
        kind: BOX, SPHERE or CYLINDER (vertical axis).
        center: (3,) centre in metres.
        half: box half extents along its local axes; (r, r, r) for a sphere; (r, r, half height)
            for a cylinder.
        yaw: rotation of a box about the vertical axis (local x -> world (cos, sin, 0)).
        label: NYU-13 class id, or IGNORE_LABEL for unlabelled clutter.
        instance: object id; the parts of one piece of furniture share it.
        albedo: (3,) base colour in [0, 1].
        texture: TEX_* code.
        albedo2: (3,) second colour of two-colour textures (frames, tiles).
        params: (4,) uniform numbers in [0, 1) that vary the texture per primitive.
    """

    kind: int
    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float
    label: int
    instance: int
    albedo: tuple[float, float, float]
    texture: int
    albedo2: tuple[float, float, float]
    params: tuple[float, float, float, float]


@dataclass
class Layout:
    """The primitives of a room and the space they take; the builder of furniture compositions.

    Attributes:
        rng: the scene's random generator.
        room: (3,) room size (Lx, Ly, Lz).
        cam_pos: (3,) camera position, kept clear of furniture.
        primitives: the solids placed so far.
        footprints: floor rectangles (x0, y0, x1, y1) taken by furniture.
        decorations: per wall, rectangles (s0, z0, s1, z1) taken by windows, pictures, wall TVs.
        tops: horizontal surfaces (frame, z, half width, half depth) that can carry small objects.
    """

    rng: np.random.Generator
    room: np.ndarray
    cam_pos: np.ndarray
    primitives: list[Primitive] = field(default_factory=list)
    footprints: list[tuple[float, float, float, float]] = field(default_factory=list)
    decorations: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    tops: list[tuple[Frame, float, float, float]] = field(default_factory=list)
    _next_instance: int = NUM_ROOM_SURFACES

    def new_instance(self) -> int:
        """A fresh object id (ids below NUM_ROOM_SURFACES are the room surfaces)."""
        self._next_instance += 1
        return self._next_instance - 1

    def add(
        self,
        frame: Frame,
        instance: int,
        label: int,
        kind: int,
        center: tuple[float, float, float],
        half: tuple[float, float, float],
        albedo: np.ndarray,
        texture: int,
        albedo2: np.ndarray | None = None,
    ) -> None:
        """Add a primitive given in the local frame ``frame`` (box axes follow the frame)."""
        x, y, yaw = compose(frame, center[0], center[1])
        second = albedo if albedo2 is None else albedo2
        self.primitives.append(Primitive(
            kind, (x, y, float(center[2])), tuple(float(h) for h in half), yaw, label, instance,
            _rgb(albedo), texture, _rgb(second), tuple(float(p) for p in self.rng.uniform(size=4)),
        ))  # fmt: skip

    def wall_frame(self, wall: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        """(origin (2,), tangent (2,), inward normal (2,), yaw, length) of a wall.

        A frame with this yaw has its local +y pointing into the room and local +x along the
        tangent; wall points are origin + s * tangent for s in [0, length].
        """
        lx, ly = float(self.room[0]), float(self.room[1])
        origin, yaw, length = {
            WALL_X0: ((0.0, ly), -math.pi / 2, ly),
            WALL_X1: ((lx, 0.0), math.pi / 2, ly),
            WALL_Y1: ((lx, ly), math.pi, lx),
        }[wall]
        tangent = np.array([math.cos(yaw), math.sin(yaw)])
        inward = np.array([-math.sin(yaw), math.cos(yaw)])
        return np.array(origin), tangent, inward, yaw, length

    def place_on_wall(self, width: float, depth: float) -> Frame | None:
        """Find floor space for a piece with its back to a wall; its frame, or None if full."""
        for _ in range(PLACEMENT_TRIES):
            wall = WALLS[self.rng.integers(len(WALLS))]
            origin, tangent, inward, yaw, length = self.wall_frame(wall)
            if length < width + 2 * FOOTPRINT_MARGIN:
                continue
            end = width / 2 + FOOTPRINT_MARGIN
            s = self.rng.uniform(end, length - end)
            x, y = origin + s * tangent + inward * (depth / 2 + WALL_GAP)
            if self.claim((x, y, yaw), width, depth):
                return (float(x), float(y), yaw)
        return None

    def place_free(self, width: float, depth: float) -> Frame | None:
        """Find floor space for a free-standing piece, roughly aligned with the walls."""
        for _ in range(PLACEMENT_TRIES):
            yaw = self.rng.integers(4) * math.pi / 2 + self.rng.normal(scale=0.15)
            x = self.rng.uniform(0.0, float(self.room[0]))
            y = self.rng.uniform(0.0, float(self.room[1]))
            if self.claim((x, y, yaw), width, depth):
                return (x, y, yaw)
        return None

    def claim(self, frame: Frame, width: float, depth: float) -> bool:
        """Take the floor rectangle of a piece if it is inside the room and free; whether it was."""
        x, y, yaw = frame
        c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
        hx, hy = (c * width + s * depth) / 2, (s * width + c * depth) / 2
        box = (x - hx, y - hy, x + hx, y + hy)
        if box[0] < 0 or box[1] < 0 or box[2] > self.room[0] or box[3] > self.room[1]:
            return False
        cx, cy = float(self.cam_pos[0]), float(self.cam_pos[1])
        gap_x, gap_y = max(box[0] - cx, 0.0, cx - box[2]), max(box[1] - cy, 0.0, cy - box[3])
        if math.hypot(gap_x, gap_y) < CAMERA_CLEARANCE:
            return False
        m = FOOTPRINT_MARGIN
        for f in self.footprints:
            if box[0] < f[2] + m and f[0] < box[2] + m and box[1] < f[3] + m and f[1] < box[3] + m:
                return False
        self.footprints.append(box)
        return True

    def claim_wall(self, wall: int, s0: float, z0: float, s1: float, z1: float) -> bool:
        """Take a rectangle of a wall (along-wall s, height z) if it is free; whether it was."""
        taken = self.decorations.setdefault(wall, [])
        m = DECORATION_MARGIN
        for r in taken:
            if s0 < r[2] + m and r[0] < s1 + m and z0 < r[3] + m and r[1] < z1 + m:
                return False
        taken.append((s0, z0, s1, z1))
        return True

    def color(self, palette: tuple[tuple[float, float, float], ...]) -> np.ndarray:
        """A palette colour with a random per-channel variation."""
        base = np.asarray(palette[self.rng.integers(len(palette))])
        return np.clip(base * self.rng.uniform(1 - COLOR_JITTER, 1 + COLOR_JITTER, 3), 0.0, 1.0)

    def bright_color(self) -> np.ndarray:
        """A random saturated colour, for small objects and books."""
        hsv = (self.rng.uniform(), self.rng.uniform(0.4, 0.9), self.rng.uniform(0.45, 0.95))
        return np.array(colorsys.hsv_to_rgb(*hsv))


def compose(frame: Frame, lx: float, ly: float, dyaw: float = 0.0) -> Frame:
    """The frame at local position (lx, ly) of ``frame``, turned by ``dyaw``."""
    x, y, yaw = frame
    c, s = math.cos(yaw), math.sin(yaw)
    return (x + c * lx - s * ly, y + s * lx + c * ly, yaw + dyaw)


def _rgb(color: np.ndarray) -> tuple[float, float, float]:
    r, g, b = (float(v) for v in np.clip(color, 0.0, 1.0))
    return (r, g, b)
