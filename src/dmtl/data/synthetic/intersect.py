"""Ray intersections of the synthetic renderer: yawed boxes, spheres, upright cylinders, the room.

Every function is vectorised over rays (..., 3) and returns the ray parameter t of the first hit
(inf where missed); ``EPS_T`` is the smallest t that counts as a hit.
"""

from __future__ import annotations

import numpy as np

EPS_T = 1e-5  # smallest ray parameter that counts as a hit


def to_box(v: np.ndarray, c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    """x, y, z components of world vectors (..., 3) in a box frame of yaw (cos c, sin s)."""
    x, y = v[..., 0], v[..., 1]
    return c * x + s * y, c * y - s * x, v[..., 2]


def slab(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit ray parameters of the slab |x| <= half along one axis."""
    inv = 1.0 / d
    t1, t2 = (-half - o) * inv, (half - o) * inv
    return np.minimum(t1, t2), np.maximum(t1, t2)


def hit_box(origin, rays, center, half, c, s) -> np.ndarray:
    o, d = to_box(origin - center, c, s), to_box(rays, c, s)
    near, far = slab(o[0], d[0], half[0])
    for axis in (1, 2):
        a, b = slab(o[axis], d[axis], half[axis])
        near, far = np.maximum(near, a), np.minimum(far, b)
    return np.where((near <= far) & (near > EPS_T), near, np.inf)


def hit_sphere(origin, rays, center, radius) -> np.ndarray:
    oc = origin - center
    b = dot(rays, oc)
    a = dot(rays, rays)
    disc = b * b - a * (dot(oc, oc) - radius * radius)
    t = (-b - np.sqrt(disc)) / a  # NaN where the ray misses
    return np.where(t > EPS_T, t, np.inf)


def hit_cylinder(origin, rays, center, radius, half_height) -> np.ndarray:
    o = origin - center
    ox, oy, oz = o[..., 0], o[..., 1], o[..., 2]
    dx, dy, dz = rays[..., 0], rays[..., 1], rays[..., 2]
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    disc = b * b - a * (ox * ox + oy * oy - radius * radius)
    side = (-b - np.sqrt(disc)) / a
    side = np.where((side > EPS_T) & (np.abs(oz + side * dz) <= half_height), side, np.inf)
    # A ray from outside enters through the cap on its origin's side, if through a cap at all.
    cap = (np.where(oz > 0, half_height, -half_height) - oz) / dz
    cx, cy = ox + cap * dx, oy + cap * dy
    inside = (cx * cx + cy * cy <= radius * radius) & (np.abs(oz) > half_height)
    return np.minimum(side, np.where(inside & (cap > EPS_T), cap, np.inf))


def hit_room(origin: np.ndarray, rays: np.ndarray, room: np.ndarray):
    """Exit of every ray from the room box: ray parameter (H, W) and room surface id (H, W)."""
    t = np.empty((3,) + rays.shape[:-1], dtype=np.float32)
    for axis in range(3):
        d = rays[..., axis]
        t[axis] = np.where(d > 0, room[axis] - origin[axis], -origin[axis]) / d
    t[~(t > 0)] = np.inf  # rays parallel to a face never reach it
    axis = np.argmin(t, axis=0)
    hit = np.take_along_axis(t, axis[None], 0)[0]
    upward = np.take_along_axis(rays, axis[..., None], -1)[..., 0] > 0
    return hit, (2 * axis + upward).astype(np.int32)


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products over the last axis, broadcasting the leading ones."""
    return np.einsum("...i,...i->...", a, b)
