"""Room types of the synthetic scenes: furniture, wall items, small objects and clutter per room.

``furnish`` draws a room type (bedroom, living room, dining room, office), places its furniture
(``synthetic_furniture``), then windows, pictures, objects on every table and cabinet top, and
clutter on the floor. Sizes are in metres.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dmtl.data.synthetic.furniture import (
    FABRIC,
    FRAME_COLORS,
    PAINTED,
    SHEETS,
    THIN,
    TV_BEZEL,
    TV_BLACK,
    bed,
    desk,
    dining_set,
    free_chair,
    sofa,
)
from dmtl.data.synthetic.objects import (
    BOOKS,
    BOX,
    CYLINDER,
    IGNORE_LABEL,
    OBJECTS,
    PICTURE,
    SPHERE,
    TEX_FABRIC,
    TEX_PICTURE,
    TEX_PLAIN,
    TEX_SCREEN,
    TEX_WINDOW,
    TV,
    WALLS,
    WINDOW,
    Frame,
    Layout,
    compose,
)
from dmtl.data.synthetic.storage import bookshelf, cabinet, tv_stand

WINDOWS = (0, 3)  # [low, high) number of windows
PICTURES = (1, 5)
WALL_TV_PROBABILITY = 0.15
EXTRA_PIECES = (0, 3)  # cabinets, bookshelves or plants added to any room type
SMALL_OBJECTS_PER_TOP = (1, 5)
CLUTTER = (1, 6)
UNLABELLED_CLUTTER = 0.4  # share of floor clutter that is unlabelled, as much clutter in NYUv2
GLASS_COLOR = (0.8, 0.88, 0.95)
LEAVES = ((0.20, 0.45, 0.18), (0.30, 0.55, 0.25), (0.15, 0.35, 0.20))
POTS = ((0.65, 0.35, 0.25), (0.85, 0.85, 0.82), (0.25, 0.25, 0.27))


def furnish(rng: np.random.Generator, room: np.ndarray, cam_pos: np.ndarray) -> Layout:
    """Fill a room with a random room type's furniture, wall items and small objects."""
    lay = Layout(rng, room, cam_pos)
    room_type = rng.integers(4)
    if room_type == 0:  # bedroom
        bed(lay)
        _repeat(lay, (1, 4), cabinet)
        _maybe(lay, 0.4, desk)
        _maybe(lay, 0.4, bookshelf)
        _maybe(lay, 0.3, tv_stand)
    elif room_type == 1:  # living room
        sofa(lay, rng.uniform(1.5, 2.3), coffee_table=rng.uniform() < 0.8)
        _maybe(lay, 0.75, tv_stand)
        _maybe(lay, 0.5, bookshelf)
        _repeat(lay, (1, 3), cabinet)
        _maybe(lay, 0.5, sofa, rng.uniform(0.8, 1.0), False)
        _maybe(lay, 0.4, floor_lamp)
    elif room_type == 2:  # dining room
        dining_set(lay)
        _repeat(lay, (1, 3), cabinet)
        _maybe(lay, 0.5, bookshelf)
        _maybe(lay, 0.3, sofa, rng.uniform(1.5, 2.3), False)
    else:  # office / study
        desk(lay)
        _maybe(lay, 0.5, desk)
        bookshelf(lay)
        _maybe(lay, 0.6, bookshelf)
        _repeat(lay, (0, 3), cabinet)
        _maybe(lay, 0.3, free_chair)
    for _ in range(rng.integers(*EXTRA_PIECES)):
        (cabinet, bookshelf, plant)[rng.integers(3)](lay)
    _repeat(lay, WINDOWS, wall_item, WINDOW)
    _repeat(lay, PICTURES, wall_item, PICTURE)
    _maybe(lay, WALL_TV_PROBABILITY, wall_item, TV)
    for frame, z, half_w, half_d in list(lay.tops):
        for _ in range(rng.integers(*SMALL_OBJECTS_PER_TOP)):
            local = compose(frame, rng.uniform(-0.8, 0.8) * half_w, rng.uniform(-0.7, 0.7) * half_d)
            small_object(lay, local, z)
    _repeat(lay, CLUTTER, floor_clutter)
    return lay


def wall_item(lay: Layout, kind: int) -> None:
    """A window, picture or wall-mounted TV: a thin box on a free part of a wall."""
    rng = lay.rng
    wall = WALLS[rng.integers(len(WALLS))]
    origin, tangent, inward, yaw, length = lay.wall_frame(wall)
    if kind == WINDOW:
        width, height = rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.5)
        bottom = rng.uniform(0.7, 1.0)
    elif kind == PICTURE:
        width, height = rng.uniform(0.35, 1.2), rng.uniform(0.3, 0.9)
        bottom = rng.uniform(1.3, 1.8) - height / 2
    else:
        width = rng.uniform(0.8, 1.3)
        height, bottom = width * 0.58, rng.uniform(1.0, 1.4)
    top = min(bottom + height, float(lay.room[2]) - 0.1)
    if length < width + 0.4 or top - bottom < 0.2:
        return
    s = rng.uniform(width / 2 + 0.2, length - width / 2 - 0.2)
    if not lay.claim_wall(wall, s - width / 2, bottom, s + width / 2, top):
        return
    # Windows sit nearly flush with the wall, pictures and TVs stand out by their thickness.
    x, y = origin + s * tangent + inward * (THIN / 4 if kind == WINDOW else THIN)
    frame = (float(x), float(y), yaw)
    half = (width / 2, THIN, (top - bottom) / 2)
    center = (0.0, 0.0, (top + bottom) / 2)
    if kind == TV:
        lay.add(frame, lay.new_instance(), TV, BOX, center, half, TV_BLACK, TEX_SCREEN, TV_BEZEL)
    else:
        texture = TEX_WINDOW if kind == WINDOW else TEX_PICTURE
        color = lay.bright_color() if kind == PICTURE else np.array(GLASS_COLOR)
        lay.add(
            frame,
            lay.new_instance(),
            kind,
            BOX,
            center,
            half,
            color,
            texture,
            lay.color(FRAME_COLORS),
        )


def small_object(lay: Layout, frame: Frame, z: float) -> None:
    """A ball, cup, vase, lamp, book pile or box standing at height z at the frame origin."""
    rng = lay.rng
    choice = rng.integers(5)
    color, inst = lay.bright_color(), lay.new_instance()
    if choice == 0:
        r = rng.uniform(0.04, 0.1)
        lay.add(frame, inst, OBJECTS, SPHERE, (0, 0, z + r), (r, r, r), color, TEX_PLAIN)
    elif choice == 1:
        r, h = rng.uniform(0.03, 0.08), rng.uniform(0.08, 0.35)
        lay.add(frame, inst, OBJECTS, CYLINDER, (0, 0, z + h / 2), (r, r, h / 2), color, TEX_PLAIN)
    elif choice == 2:  # table lamp: stem and shade
        h, r = rng.uniform(0.25, 0.4), rng.uniform(0.1, 0.17)
        lay.add(
            frame, inst, OBJECTS, CYLINDER, (0, 0, z + h / 2), (0.02, 0.02, h / 2), color, TEX_PLAIN
        )
        lay.add(
            frame,
            inst,
            OBJECTS,
            CYLINDER,
            (0, 0, z + h + 0.09),
            (r, r, 0.09),
            lay.color(SHEETS),
            TEX_FABRIC,
        )
    elif choice == 3:  # a pile of lying books
        t = rng.uniform(0.015, 0.025)
        for level in range(rng.integers(1, 4)):
            lay.add(
                compose(frame, 0, 0, rng.normal(scale=0.2)),
                inst,
                BOOKS,
                BOX,
                (0, 0, z + (2 * level + 1) * t),
                (0.11, 0.15, t),
                lay.bright_color(),
                TEX_PLAIN,
            )
    else:
        half = rng.uniform(0.04, 0.12, size=3)
        lay.add(frame, inst, OBJECTS, BOX, (0, 0, z + half[2]), half, color, TEX_PLAIN)


def plant(lay: Layout) -> None:
    """A potted plant (objects): a pot and a round crown of leaves."""
    rng = lay.rng
    r, pot = rng.uniform(0.12, 0.2), rng.uniform(0.2, 0.4)
    crown = r * rng.uniform(1.5, 2.5)
    frame = lay.place_free(2 * crown, 2 * crown)
    if frame is None:
        return
    inst = lay.new_instance()
    lay.add(
        frame, inst, OBJECTS, CYLINDER, (0, 0, pot / 2), (r, r, pot / 2), lay.color(POTS), TEX_PLAIN
    )
    lay.add(
        frame,
        inst,
        OBJECTS,
        SPHERE,
        (0, 0, pot + crown * 0.9),
        (crown, crown, crown),
        lay.color(LEAVES),
        TEX_FABRIC,
    )


def floor_lamp(lay: Layout) -> None:
    """A standing lamp (objects): a pole and a shade."""
    rng = lay.rng
    height, r = rng.uniform(1.3, 1.7), rng.uniform(0.15, 0.22)
    frame = lay.place_free(2 * r, 2 * r)
    if frame is None:
        return
    inst = lay.new_instance()
    lay.add(
        frame,
        inst,
        OBJECTS,
        CYLINDER,
        (0, 0, height / 2),
        (0.02, 0.02, height / 2),
        lay.color(PAINTED),
        TEX_PLAIN,
    )
    lay.add(
        frame,
        inst,
        OBJECTS,
        CYLINDER,
        (0, 0, height + 0.1),
        (r, r, 0.12),
        lay.color(SHEETS),
        TEX_FABRIC,
    )


def floor_clutter(lay: Layout) -> None:
    """A box or bin on the floor; some are unlabelled, like much clutter in NYUv2."""
    rng = lay.rng
    half = rng.uniform(0.08, 0.25, size=3)
    frame = lay.place_free(2 * half[0], 2 * half[1])
    if frame is None:
        return
    label = IGNORE_LABEL if rng.uniform() < UNLABELLED_CLUTTER else OBJECTS
    kind = BOX if rng.uniform() < 0.6 else CYLINDER
    if kind == CYLINDER:
        half[1] = half[0]
    lay.add(
        frame,
        lay.new_instance(),
        label,
        kind,
        (0, 0, half[2]),
        half,
        lay.color(FABRIC + PAINTED),
        TEX_PLAIN,
    )


def _maybe(lay: Layout, probability: float, build: Callable[..., None], *args: object) -> None:
    if lay.rng.uniform() < probability:
        build(lay, *args)


def _repeat(lay: Layout, count: tuple[int, int], build: Callable[..., None], *args: object) -> None:
    for _ in range(lay.rng.integers(*count)):
        build(lay, *args)
