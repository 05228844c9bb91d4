"""Procedural textures of the synthetic scenes: the colour of every visible surface point.

Room surfaces are textured in world coordinates (wood planks, tiles, carpet, painted walls), boxes
in their own frame (wood grain, rows of books, pictures, windows, TV screens), everything else with
a faint plane-wave noise. Windows glow (emissive glass) and mark their glass for depth holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmtl.data.synthetic.objects import (
    NUM_ROOM_SURFACES,
    NUM_TEXTURES,
    TEX_BOOKS,
    TEX_CARPET,
    TEX_CEILING,
    TEX_FABRIC,
    TEX_FLOOR_TILE,
    TEX_FLOOR_WOOD,
    TEX_PICTURE,
    TEX_PLAIN,
    TEX_SCREEN,
    TEX_WALL,
    TEX_WINDOW,
    TEX_WOOD,
)
from dmtl.data.synthetic.scene import HASH_SIZE, NUM_WAVES, Scene, SurfaceTable

PLAIN_NOISE = 0.06  # relative brightness variation of painted and plain surfaces
FABRIC_NOISE = 0.08
WOOD_GRAIN = 0.08
WOOD_FREQUENCY = (30.0, 80.0)  # rad / m across the grain
WOOD_WARP = 3.0  # how wavy the grain lines are
STRIPE_CONTRAST = 0.06
PLANK_LENGTH = 1.2  # m
PLANK_SHADE = (0.8, 1.2)
SEAM = 0.05  # fraction of a plank / tile / book that is a dark gap
SEAM_DARKNESS = 0.6
GROUT = (0.75, 0.75, 0.72)
BOOK_WIDTH = (0.02, 0.05)  # m
BOOK_COLORS = np.array([
    (0.60, 0.10, 0.10), (0.10, 0.25, 0.55), (0.15, 0.45, 0.20), (0.85, 0.75, 0.30),
    (0.90, 0.90, 0.85), (0.10, 0.10, 0.12), (0.55, 0.30, 0.60), (0.90, 0.45, 0.15),
    (0.30, 0.60, 0.70), (0.45, 0.30, 0.20), (0.75, 0.20, 0.40), (0.50, 0.55, 0.55),
], dtype=np.float32)  # fmt: skip
PICTURE_FRAME = 0.03  # m
PICTURE_FREQUENCY = (2.0, 9.0)  # rad per half picture
WINDOW_FRAME = 0.06  # m
MULLION = 0.025  # m, half width
SKY_HORIZON = np.array((0.88, 0.92, 0.96), dtype=np.float32)
SKY_ZENITH = np.array((0.50, 0.68, 0.95), dtype=np.float32)
GLASS_HOLE_PROBABILITY = 0.7  # share of windows whose glass a depth sensor misses
SCREEN_BEZEL = 0.025  # m
SCREEN_REFLECTION = 0.06


@dataclass(frozen=True)
class _Points:
    """Visible surface points of one texture: world and box-frame coordinates, surface rows."""

    world: np.ndarray  # (n, 3)
    local: np.ndarray  # (n, 3) box-frame coordinates (boxes only)
    half: np.ndarray  # (n, 3) half extents of the box (boxes only)
    albedo: np.ndarray  # (n, 3)
    albedo2: np.ndarray  # (n, 3)
    params: np.ndarray  # (n, 4)


def surface_colors(
    scene: Scene, table: SurfaceTable, surface: np.ndarray, points: np.ndarray, local: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour of each visible surface point.

    Args:
        scene: the scene (noise waves, hash table, floor and wall settings).
        table: its surface table.
        surface: (N,) surface id per point.
        points: (N, 3) world coordinates.
        local: (N, 3) box-frame coordinates where the surface is a box.

    Returns:
        albedo (N, 3) float32 in [0, 1]; emissive (N,) bool, points whose colour is light (window
        glass); glass (N,) bool, glass that a depth sensor misses.
    """
    codes = table.texture[surface]
    color = np.empty((len(surface), 3), dtype=np.float32)
    emissive = np.zeros(len(surface), dtype=bool)
    glass = np.zeros(len(surface), dtype=bool)
    prim = np.maximum(surface - NUM_ROOM_SURFACES, 0)
    for code in np.flatnonzero(np.bincount(codes, minlength=NUM_TEXTURES)):
        idx = np.flatnonzero(codes == code)
        rows = surface[idx]
        pts = _Points(
            points[idx], local[idx], table.half[prim[idx]] if len(table.half) else local[idx],
            table.albedo[rows], table.albedo2[rows], table.params[rows],
        )  # fmt: skip
        if code == TEX_WINDOW:
            color[idx], pane = _window(pts)
            emissive[idx] = pane
            glass[idx] = pane & (pts.params[:, 3] < GLASS_HOLE_PROBABILITY)
        else:
            color[idx] = _TEXTURES[code](scene, pts)
    return np.clip(color, 0.0, 1.0), emissive, glass


def _noise(points: np.ndarray, waves: np.ndarray) -> np.ndarray:
    """Smooth noise (n,) in [-1, 1]: the mean of a few plane waves."""
    return np.sin(points @ waves[:, :3].T + waves[:, 3]).mean(axis=1)


def _shade(color: np.ndarray, factor: np.ndarray) -> np.ndarray:
    return color * factor[:, None]


def _plain(scene: Scene, p: _Points) -> np.ndarray:
    return _shade(p.albedo, 1 + PLAIN_NOISE * _noise(p.world, scene.waves[:NUM_WAVES]))


def _fabric(scene: Scene, p: _Points) -> np.ndarray:
    fine = _noise(p.world, scene.waves[NUM_WAVES:])
    return _shade(p.albedo, 1 + FABRIC_NOISE * fine + PLAIN_NOISE * _noise(p.world, scene.waves))


def _wood(scene: Scene, p: _Points) -> np.ndarray:
    """Grain lines along the box's local x axis."""
    low, high = WOOD_FREQUENCY
    frequency = low + (high - low) * p.params[:, 0]
    warp = WOOD_WARP * np.sin(2.0 * p.local[:, 0] + 2 * np.pi * p.params[:, 1])
    grain = np.sin(frequency * (p.local[:, 1] + p.local[:, 2]) + warp)
    return _shade(p.albedo, 1 + WOOD_GRAIN * grain)


def _books(scene: Scene, p: _Points) -> np.ndarray:
    """A row of books of one width and random colours along the local x axis."""
    low, high = BOOK_WIDTH
    position = (p.local[:, 0] + p.half[:, 0]) / (low + (high - low) * p.params[:, 1])
    book = np.floor(position).astype(np.int64)
    pick = book + (p.params[:, 2] * len(BOOK_COLORS)).astype(np.int64)
    shade = PLANK_SHADE[0] + (PLANK_SHADE[1] - PLANK_SHADE[0]) * scene.hash_table[book % HASH_SIZE]
    shade = np.where(position - book < SEAM * 2, SEAM_DARKNESS * shade, shade)
    return _shade(0.5 * BOOK_COLORS[pick % len(BOOK_COLORS)] + 0.5 * p.albedo, shade)


def _picture(scene: Scene, p: _Points) -> np.ndarray:
    """A frame around an abstract painting of the picture's two colours."""
    u, v = p.local[:, 0] / p.half[:, 0], p.local[:, 2] / p.half[:, 2]
    low, high = PICTURE_FREQUENCY
    fu, fv = low + (high - low) * p.params[:, 0], low + (high - low) * p.params[:, 1]
    mix = 0.5 + 0.5 * np.sin(fu * u + 3.0 * np.cos(fv * v + 2 * np.pi * p.params[:, 2]))
    art = p.albedo * mix[:, None] + (1.0 - p.albedo) * (1.0 - mix[:, None])
    return np.where(_border(p, PICTURE_FRAME)[:, None], p.albedo2, art)


def _screen(scene: Scene, p: _Points) -> np.ndarray:
    """A dark screen with a faint reflection gradient inside a bezel."""
    v = p.local[:, 2] / p.half[:, 2]
    screen = p.albedo + SCREEN_REFLECTION * (1 - v[:, None]) / 2
    return np.where(_border(p, SCREEN_BEZEL)[:, None], p.albedo2, screen)


def _window(p: _Points) -> tuple[np.ndarray, np.ndarray]:
    """Frame and mullions of albedo2 around panes of sky; the colour and the pane mask."""
    x, z = p.local[:, 0], p.local[:, 2]
    frame = _border(p, WINDOW_FRAME) | (np.abs(x) < MULLION)
    frame |= (p.params[:, 1] < 0.5) & (np.abs(z) < MULLION)
    height = (z / p.half[:, 2] + 1) / 2
    sky = SKY_HORIZON + (SKY_ZENITH - SKY_HORIZON) * height[:, None]
    sky *= (0.85 + 0.15 * p.params[:, 2])[:, None]
    return np.where(frame[:, None], p.albedo2, sky), ~frame


def _border(p: _Points, width: float) -> np.ndarray:
    """Points within ``width`` of the edge of a thin box's front face (local x-z)."""
    return (np.abs(p.local[:, 0]) > p.half[:, 0] - width) | (
        np.abs(p.local[:, 2]) > p.half[:, 2] - width
    )


def _wall(scene: Scene, p: _Points) -> np.ndarray:
    factor = 1 + PLAIN_NOISE / 2 * _noise(p.world, scene.waves[:NUM_WAVES])
    if scene.wall_stripes > 0:
        # On every wall one of x, y is constant, so their sum runs along the wall.
        along = p.world[:, 0] + p.world[:, 1]
        factor += STRIPE_CONTRAST * np.sign(np.sin(2 * np.pi * along / scene.wall_stripes))
    return _shade(p.albedo, factor)


def _ceiling(scene: Scene, p: _Points) -> np.ndarray:
    return _shade(p.albedo, 1 + PLAIN_NOISE / 3 * _noise(p.world, scene.waves[:NUM_WAVES]))


def _floor_wood(scene: Scene, p: _Points) -> np.ndarray:
    """Planks along x, floor_scale wide, with staggered ends and varying shades."""
    across = p.world[:, 1] / scene.floor_scale
    row = np.floor(across).astype(np.int64)
    stagger = scene.hash_table[row % HASH_SIZE] * PLANK_LENGTH
    piece = np.floor((p.world[:, 0] + stagger) / PLANK_LENGTH).astype(np.int64)
    low, high = PLANK_SHADE
    shade = low + (high - low) * scene.hash_table[(7 * row + 13 * piece) % HASH_SIZE]
    shade += WOOD_GRAIN * np.sin(25.0 * p.world[:, 0] + row)
    return _shade(p.albedo, np.where(across - row < SEAM, SEAM_DARKNESS * shade, shade))


def _floor_tile(scene: Scene, p: _Points) -> np.ndarray:
    """A checkerboard of the two floor colours with grout lines."""
    u, v = p.world[:, 0] / scene.floor_scale, p.world[:, 1] / scene.floor_scale
    i, j = np.floor(u), np.floor(v)
    color = np.where(((i + j) % 2 == 0)[:, None], p.albedo, p.albedo2)
    grout = (u - i < SEAM) | (v - j < SEAM)
    return np.where(grout[:, None], np.asarray(GROUT, dtype=np.float32), color)


_TEXTURES = {
    TEX_PLAIN: _plain,
    TEX_WOOD: _wood,
    TEX_FABRIC: _fabric,
    TEX_BOOKS: _books,
    TEX_PICTURE: _picture,
    TEX_SCREEN: _screen,
    TEX_WALL: _wall,
    TEX_CEILING: _ceiling,
    TEX_FLOOR_WOOD: _floor_wood,
    TEX_FLOOR_TILE: _floor_tile,
    TEX_CARPET: _fabric,
}
