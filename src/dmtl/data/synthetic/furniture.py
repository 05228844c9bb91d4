"""Furniture compositions of the synthetic scenes: tables, chairs, beds, sofas, desks.

Every piece is a few primitives in a local frame (x along the width, +y towards the front, z up):
a table is a top and four legs, a chair a seat, a back and four legs, a bed a base, a mattress, a
duvet and a headboard, and so on (storage pieces are in ``storage``; ``rooms.furnish`` places them).
Sizes are in metres.
"""

from __future__ import annotations

import math

from dmtl.data.synthetic.objects import (
    BED,
    BOX,
    CHAIR,
    CYLINDER,
    FURNITURE,
    OBJECTS,
    SOFA,
    TABLE,
    TEX_FABRIC,
    TEX_PLAIN,
    TEX_WOOD,
    Frame,
    Layout,
    compose,
)  # fmt: skip

WOOD = (
    (0.55, 0.36, 0.20),
    (0.72, 0.52, 0.32),
    (0.40, 0.26, 0.16),
    (0.80, 0.66, 0.46),
    (0.30, 0.20, 0.13),
)
PAINTED = ((0.88, 0.88, 0.85), (0.55, 0.56, 0.58), (0.16, 0.16, 0.17), (0.60, 0.70, 0.74))
FABRIC = (
    (0.58, 0.58, 0.62),
    (0.30, 0.36, 0.56),
    (0.55, 0.26, 0.22),
    (0.44, 0.50, 0.34),
    (0.76, 0.70, 0.60),
    (0.26, 0.26, 0.29),
    (0.62, 0.48, 0.36),
)
SHEETS = (
    (0.92, 0.92, 0.90),
    (0.70, 0.80, 0.92),
    (0.88, 0.76, 0.72),
    (0.62, 0.72, 0.62),
    (0.85, 0.82, 0.60),
)
FRAME_COLORS = ((0.95, 0.95, 0.93), (0.20, 0.18, 0.16), (0.60, 0.45, 0.28))
TV_BLACK = (0.04, 0.04, 0.045)
TV_BEZEL = (0.12, 0.12, 0.13)

TABLE_TOP = 0.04  # thickness
LEG = 0.025  # half width of square legs, radius of round ones
LEG_INSET = 0.06
CHAIR_SPACE = 0.65  # depth in front of a desk kept for its chair
THIN = 0.02  # half thickness of pictures, windows and wall TVs
NIGHTSTAND_PROBABILITY = 0.6


def table(lay: Layout, frame: Frame, width: float, depth: float, height: float) -> None:
    """A table (top + 4 legs, square or round), also used for desks and coffee tables."""
    inst = lay.new_instance()
    color = lay.color(WOOD if lay.rng.uniform() < 0.7 else PAINTED)
    lay.add(
        frame,
        inst,
        TABLE,
        BOX,
        (0, 0, height - TABLE_TOP / 2),
        (width / 2, depth / 2, TABLE_TOP / 2),
        color,
        TEX_WOOD,
    )
    leg_half = (height - TABLE_TOP) / 2
    kind = CYLINDER if lay.rng.uniform() < 0.4 else BOX
    for sx in (-1, 1):
        for sy in (-1, 1):
            center = (sx * (width / 2 - LEG_INSET), sy * (depth / 2 - LEG_INSET), leg_half)
            lay.add(frame, inst, TABLE, kind, center, (LEG, LEG, leg_half), color, TEX_PLAIN)
    lay.tops.append((frame, height, width / 2, depth / 2))


def chair(lay: Layout, frame: Frame) -> None:
    """A chair facing local +y: seat, back and 4 legs."""
    rng = lay.rng
    inst = lay.new_instance()
    color = lay.color(WOOD + PAINTED + FABRIC)
    width, depth = rng.uniform(0.40, 0.50), rng.uniform(0.40, 0.48)
    seat, back = rng.uniform(0.42, 0.48), rng.uniform(0.35, 0.50)
    lay.add(
        frame,
        inst,
        CHAIR,
        BOX,
        (0, 0, seat - 0.025),
        (width / 2, depth / 2, 0.025),
        color,
        TEX_PLAIN,
    )
    lay.add(
        frame,
        inst,
        CHAIR,
        BOX,
        (0, -depth / 2 + 0.02, seat + back / 2),
        (width / 2, 0.02, back / 2),
        color,
        TEX_PLAIN,
    )
    leg_half = (seat - 0.05) / 2
    for sx in (-1, 1):
        for sy in (-1, 1):
            center = (sx * (width / 2 - 0.03), sy * (depth / 2 - 0.03), leg_half)
            lay.add(frame, inst, CHAIR, BOX, center, (0.018, 0.018, leg_half), color, TEX_PLAIN)


def bed(lay: Layout) -> None:
    """A bed with its headboard against a wall, plus pillows (objects)."""
    rng = lay.rng
    width, length = rng.uniform(1.0, 1.9), rng.uniform(1.9, 2.15)
    frame = lay.place_on_wall(width + 0.06, length)
    if frame is None:
        return
    inst = lay.new_instance()
    wood, sheet, duvet = lay.color(WOOD), lay.color(SHEETS), lay.color(SHEETS + FABRIC)
    base, mattress, head = rng.uniform(0.25, 0.4), rng.uniform(0.15, 0.25), rng.uniform(0.8, 1.2)
    top = base + mattress
    lay.add(
        frame, inst, BED, BOX, (0, 0, base / 2), (width / 2, length / 2, base / 2), wood, TEX_WOOD
    )
    lay.add(
        frame,
        inst,
        BED,
        BOX,
        (0, 0.02, base + mattress / 2),
        (width / 2 - 0.02, length / 2 - 0.06, mattress / 2),
        sheet,
        TEX_FABRIC,
    )
    cover = length * rng.uniform(0.3, 0.4)
    lay.add(
        frame,
        inst,
        BED,
        BOX,
        (0, length / 2 - cover, top - mattress / 2 + 0.02),
        (width / 2 + 0.01, cover, mattress / 2 + 0.03),
        duvet,
        TEX_FABRIC,
    )
    lay.add(
        frame,
        inst,
        BED,
        BOX,
        (0, -length / 2 + 0.04, head / 2),
        (width / 2 + 0.03, 0.04, head / 2),
        wood,
        TEX_WOOD,
    )
    for x in (-width / 4, width / 4) if width > 1.3 else (0.0,):
        lay.add(
            frame,
            lay.new_instance(),
            OBJECTS,
            BOX,
            (x, -length / 2 + 0.3, top + 0.06),
            (min(0.3, width / 4 - 0.02), 0.17, 0.06),
            sheet,
            TEX_FABRIC,
        )
    for side in (-1, 1):  # nightstands
        size = rng.uniform(0.4, 0.55)
        stand = compose(frame, side * (width / 2 + 0.1 + size / 2), (size - length) / 2)
        if rng.uniform() < NIGHTSTAND_PROBABILITY and lay.claim(stand, size, size):
            height = rng.uniform(0.45, 0.65)
            lay.add(
                stand,
                lay.new_instance(),
                FURNITURE,
                BOX,
                (0, 0, height / 2),
                (size / 2, size / 2, height / 2),
                wood,
                TEX_WOOD,
            )
            lay.tops.append((stand, height, size / 2, size / 2))


def sofa(lay: Layout, width: float, coffee_table: bool) -> None:
    """A sofa (or armchair) against a wall, with an optional coffee table in front."""
    rng = lay.rng
    depth = rng.uniform(0.8, 0.95)
    frame = lay.place_on_wall(width, depth)
    if frame is None:
        return
    inst = lay.new_instance()
    color = lay.color(FABRIC)
    seat, back, arm = rng.uniform(0.38, 0.45), rng.uniform(0.75, 0.9), rng.uniform(0.55, 0.65)
    back_t, arm_w = rng.uniform(0.15, 0.25), rng.uniform(0.12, 0.22)
    lay.add(
        frame,
        inst,
        SOFA,
        BOX,
        (0, back_t / 2, seat / 2),
        (width / 2 - arm_w, (depth - back_t) / 2, seat / 2),
        color,
        TEX_FABRIC,
    )
    lay.add(
        frame,
        inst,
        SOFA,
        BOX,
        (0, -depth / 2 + back_t / 2, back / 2),
        (width / 2, back_t / 2, back / 2),
        color,
        TEX_FABRIC,
    )
    for sx in (-1, 1):
        lay.add(
            frame,
            inst,
            SOFA,
            BOX,
            (sx * (width / 2 - arm_w / 2), 0, arm / 2),
            (arm_w / 2, depth / 2, arm / 2),
            color,
            TEX_FABRIC,
        )
    if width > 1.4 and rng.uniform() < 0.6:  # cushions
        for sx in (-1, 1):
            lay.add(
                frame,
                lay.new_instance(),
                OBJECTS,
                BOX,
                (sx * (width / 2 - arm_w - 0.25), -depth / 2 + back_t + 0.07, seat + 0.2),
                (0.2, 0.06, 0.2),
                lay.bright_color(),
                TEX_FABRIC,
            )
    if coffee_table:
        w, d = rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7)
        front = compose(frame, 0.0, depth / 2 + rng.uniform(0.35, 0.5) + d / 2)
        if lay.claim(front, w, d):
            table(lay, front, w, d, rng.uniform(0.38, 0.48))


def desk(lay: Layout) -> None:
    """A desk (table) against a wall with a chair in front of it."""
    rng = lay.rng
    width, depth = rng.uniform(1.0, 1.5), rng.uniform(0.55, 0.75)
    total = depth + CHAIR_SPACE
    frame = lay.place_on_wall(width, total)
    if frame is None:
        return
    table(lay, compose(frame, 0.0, -(total - depth) / 2), width, depth, rng.uniform(0.72, 0.77))
    chair(lay, compose(frame, rng.uniform(-0.2, 0.2), total / 2 - 0.3, math.pi))


def dining_set(lay: Layout) -> None:
    """A free-standing table with chairs on both long sides."""
    rng = lay.rng
    width, depth = rng.uniform(1.0, 1.8), rng.uniform(0.7, 1.0)
    frame = lay.place_free(width + 0.1, depth + 1.1)
    if frame is None:
        return
    table(lay, frame, width, depth, rng.uniform(0.72, 0.78))
    offsets = (-width / 4, width / 4) if width > 1.3 else (0.0,)
    for side in (-1, 1):
        for x in offsets:
            if rng.uniform() < 0.8:
                pulled = depth / 2 + rng.uniform(0.1, 0.3)
                chair(lay, compose(frame, x, side * pulled, 0.0 if side < 0 else math.pi))


def free_chair(lay: Layout) -> None:
    """A chair standing on its own somewhere in the room."""
    frame = lay.place_free(0.5, 0.5)
    if frame is not None:
        chair(lay, frame)
