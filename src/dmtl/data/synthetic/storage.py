"""Storage furniture of the synthetic scenes: cabinets, bookshelves and TV stands against a wall.

Each piece is a few primitives in a local frame placed with its back to a wall
(``_wall_unit``); sizes are in metres. The colours are those of ``furniture``.
"""

from __future__ import annotations

from dmtl.data.synthetic.furniture import PAINTED, TV_BEZEL, TV_BLACK, WOOD
from dmtl.data.synthetic.objects import (
    BOOKS,
    BOX,
    FURNITURE,
    TEX_BOOKS,
    TEX_PLAIN,
    TEX_SCREEN,
    TEX_WOOD,
    TV,
    Frame,
    Layout,
)

SHELF_SPACING = 0.4
SHELF_SIDE = 0.03  # side board thickness, books stay inside it
BOOK_DEPTH = 0.2
BOOK_PROTRUSION = 0.015  # books stand out of the shelf front, so they are visible


def cabinet(lay: Layout) -> None:
    """A cabinet, dresser or wardrobe (furniture) against a wall."""
    rng = lay.rng
    width, depth = rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6)
    height = rng.uniform(0.5, 0.95) if rng.uniform() < 0.6 else rng.uniform(1.3, 2.0)
    frame = lay.place_on_wall(width, depth)
    if frame is None:
        return
    wooden = rng.uniform() < 0.5
    lay.add(
        frame,
        lay.new_instance(),
        FURNITURE,
        BOX,
        (0, 0, height / 2),
        (width / 2, depth / 2, height / 2),
        lay.color(WOOD if wooden else PAINTED),
        TEX_WOOD if wooden else TEX_PLAIN,
    )
    if height < 1.0:
        lay.tops.append((frame, height, width / 2, depth / 2))


def bookshelf(lay: Layout) -> None:
    """A bookshelf (furniture) with rows of books standing out of its front."""
    rng = lay.rng
    width, depth, height = rng.uniform(0.7, 1.3), rng.uniform(0.28, 0.38), rng.uniform(1.2, 2.0)
    frame = _wall_unit(lay, width, depth, height)
    if frame is None:
        return
    books = lay.new_instance()
    for row in range(int(height / SHELF_SPACING)):
        fill = min(width * rng.uniform(0.5, 0.92), width - 2 * SHELF_SIDE)
        slack = max(0.0, (width - fill) / 2 - SHELF_SIDE)
        x = rng.uniform(-slack, slack)
        tall = rng.uniform(0.18, 0.3)
        y = depth / 2 + BOOK_PROTRUSION - BOOK_DEPTH / 2
        lay.add(
            frame,
            books,
            BOOKS,
            BOX,
            (x, y, 0.05 + row * SHELF_SPACING + tall / 2),
            (fill / 2, BOOK_DEPTH / 2, tall / 2),
            lay.bright_color(),
            TEX_BOOKS,
        )


def tv_stand(lay: Layout) -> None:
    """A low cabinet (furniture) with a TV on it."""
    rng = lay.rng
    width, depth, height = rng.uniform(1.0, 1.8), rng.uniform(0.35, 0.5), rng.uniform(0.4, 0.6)
    frame = _wall_unit(lay, width, depth, height)
    if frame is None:
        return
    inst = lay.new_instance()
    tv_w = min(width - 0.1, rng.uniform(0.8, 1.4))
    tv_h = tv_w * rng.uniform(0.55, 0.62)
    y = -depth / 2 + 0.12
    lay.add(frame, inst, TV, BOX, (0, y, height + 0.015), (0.15, 0.1, 0.015), TV_BEZEL, TEX_PLAIN)
    lay.add(
        frame,
        inst,
        TV,
        BOX,
        (0, y, height + 0.06 + tv_h / 2),
        (tv_w / 2, 0.03, tv_h / 2),
        TV_BLACK,
        TEX_SCREEN,
        TV_BEZEL,
    )


def _wall_unit(lay: Layout, width: float, depth: float, height: float) -> Frame | None:
    """Place a wooden or painted box body (furniture) against a wall; None if no wall has room."""
    frame = lay.place_on_wall(width, depth)
    if frame is not None:
        lay.add(
            frame,
            lay.new_instance(),
            FURNITURE,
            BOX,
            (0, 0, height / 2),
            (width / 2, depth / 2, height / 2),
            lay.color(WOOD + PAINTED),
            TEX_WOOD,
        )
    return frame
