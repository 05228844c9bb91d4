"""Vectorised ray casting of synthetic scenes: visible surfaces, normals, shading and hard shadows.

One ray per pixel, all pixels at once; the only Python loops run over the primitives. Primary rays
are tested against a primitive only inside the screen rectangle that its bounding box projects to,
shadow rays only where the segment to the light passes through its bounding sphere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from dmtl.data.synthetic.intersect import (
    dot,
    hit_box,
    hit_cylinder,
    hit_room,
    hit_sphere,
    to_box,
)
from dmtl.data.synthetic.objects import BOX, CYLINDER, NUM_ROOM_SURFACES, SPHERE
from dmtl.data.synthetic.scene import LIGHT_FALLOFF, Scene, SurfaceTable, surface_table
from dmtl.data.synthetic.texture import surface_colors

FOCAL_FRACTION = 0.81  # focal length in pixels / image width, NYUv2-like (518.9 px at 640 px)
SHADOW_OFFSET = 2e-3  # m; shadow rays start this far off the surface, against self-hits
NEAR_Z = 1e-2  # m; a bounding box with a corner nearer than this is not culled on screen
IMAGE_NOISE = 0.01  # std of the additive sensor noise
# Inward normals of the room surfaces WALL_X0, WALL_X1, WALL_Y0, WALL_Y1, floor, ceiling.
ROOM_NORMALS = np.array(
    [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)], dtype=np.float32
)
CORNER_SIGNS = np.array(
    [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float32
)


@dataclass(frozen=True)
class Rendering:
    """What the camera sees at every pixel of one view.

    Attributes:
        image: (H, W, 3) float32 colours in [0, 1].
        label: (H, W) int32 NYU-13 class, IGNORE_LABEL on unlabelled clutter.
        instance: (H, W) int32 object id (room surfaces 0..5, then objects).
        depth: (H, W) float32 z-depth in metres, valid everywhere.
        normal: (H, W, 3) float32 unit normals in the camera frame, facing the camera.
        glass: (H, W) bool, window glass that a depth sensor misses.
        view_cos: (H, W) float32 cosine between the normal and the direction to the camera.
    """

    image: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    glass: np.ndarray
    view_cos: np.ndarray


@functools.lru_cache(maxsize=8)
def camera_rays(height: int, width: int) -> np.ndarray:
    """Viewing rays (H, W, 3) in the camera frame with unit z: a hit's ray parameter is its depth.

    Pinhole camera with focal length FOCAL_FRACTION * width pixels, principal point in the image
    centre and pixel (i, j) centred at (j + 0.5, i + 0.5).
    """
    focal = FOCAL_FRACTION * width
    rays = np.ones((height, width, 3), dtype=np.float32)
    rays[..., 0] = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / focal
    rays[..., 1] = ((np.arange(height, dtype=np.float32) + 0.5 - height / 2) / focal)[:, None]
    rays.flags.writeable = False
    return rays


def render_scene(
    scene: Scene, height: int, width: int, noise_rng: np.random.Generator
) -> Rendering:
    """Ray cast ``scene`` into a (height, width) view; ``noise_rng`` draws the sensor noise."""
    table = surface_table(scene)
    rays_cam = camera_rays(height, width)
    rays = rays_cam @ scene.cam_rot.T  # world directions, still with unit camera z
    origin = scene.cam_pos
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        depth, surface = _cast(scene, table, origin, rays)
        flat_rays = rays.reshape(-1, 3)
        surface = surface.ravel()
        t = depth.ravel()
        points = origin + t[:, None] * flat_rays
        normal, local = _normals(table, origin, flat_rays, t, surface, points)
        albedo, emissive, glass = surface_colors(scene, table, surface, points, local)
        light = _lighting(scene, table, points, normal, surface, emissive)
    color = albedo * light
    color[emissive] = albedo[emissive]
    color *= scene.exposure
    color = color.reshape(height, width, 3)
    color += IMAGE_NOISE * noise_rng.standard_normal(color.shape, dtype=np.float32)
    normal_cam = normal @ scene.cam_rot  # world -> camera: R^T n, for row vectors n R
    view_cos = -np.einsum("ij,ij->i", normal_cam, rays_cam.reshape(-1, 3))
    view_cos /= np.linalg.norm(rays_cam.reshape(-1, 3), axis=1)
    return Rendering(
        image=np.clip(color, 0.0, 1.0, out=color),
        label=table.label[surface].reshape(height, width),
        instance=table.instance[surface].reshape(height, width),
        depth=depth,
        normal=normal_cam.reshape(height, width, 3),
        glass=glass.reshape(height, width),
        view_cos=view_cos.reshape(height, width),
    )


def _cast(
    scene: Scene, table: SurfaceTable, origin: np.ndarray, rays: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of every pixel's ray: ray parameter (H, W) and surface id (H, W)."""
    t, surface = hit_room(origin, rays, scene.room)
    height, width = t.shape
    for p, (r0, r1, c0, c1) in enumerate(_screen_rects(scene, table, height, width)):
        if r0 >= r1 or c0 >= c1:
            continue
        hit = _hit(table, p, origin, rays[r0:r1, c0:c1])
        best = t[r0:r1, c0:c1]  # views: the updates below write into t and surface
        closer = hit < best
        np.copyto(best, hit, where=closer)
        surface[r0:r1, c0:c1][closer] = NUM_ROOM_SURFACES + p
    return t, surface


def _screen_rects(scene: Scene, table: SurfaceTable, height: int, width: int) -> np.ndarray:
    """Pixel rectangles (P, 4) of rows [r0, r1) and columns [c0, c1) that may see each primitive.

    The projection of a convex solid lies in the 2D bounding box of its bounding box's projected
    corners when all of them are in front of the camera; otherwise the whole image is searched.
    """
    c, s = np.abs(table.cos), np.abs(table.sin)
    hx, hy, hz = table.half[:, 0], table.half[:, 1], table.half[:, 2]
    is_box = table.kind == BOX
    extent = np.stack(
        [np.where(is_box, c * hx + s * hy, hx), np.where(is_box, s * hx + c * hy, hy), hz], axis=1
    )
    corners = table.center[:, None, :] + CORNER_SIGNS[None] * extent[:, None, :]
    cam = (corners - scene.cam_pos) @ scene.cam_rot  # (P, 8, 3) camera coordinates
    z = cam[..., 2]
    focal = FOCAL_FRACTION * width
    u = focal * cam[..., 0] / z + width / 2
    v = focal * cam[..., 1] / z + height / 2
    # Pixel j is centred at j + 0.5; one pixel of slack against rounding.
    rects = np.stack([
        np.floor(v.min(1) - 0.5), np.floor(v.max(1) + 0.5) + 1,
        np.floor(u.min(1) - 0.5), np.floor(u.max(1) + 0.5) + 1,
    ], axis=1)  # fmt: skip
    straddles = (z < NEAR_Z).any(1)
    rects[straddles] = (0, height, 0, width)
    rects[(z < 0).all(1)] = 0  # entirely behind the camera
    limits = np.array([height, height, width, width])
    return np.clip(rects, 0, limits).astype(np.int64)


def _hit(table: SurfaceTable, p: int, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Ray parameter of the first hit of primitive p (inf where missed), shape rays.shape[:-1]."""
    kind = table.kind[p]
    if kind == BOX:
        return hit_box(origin, rays, table.center[p], table.half[p], table.cos[p], table.sin[p])
    if kind == SPHERE:
        return hit_sphere(origin, rays, table.center[p], table.half[p, 0])
    if kind == CYLINDER:
        return hit_cylinder(origin, rays, table.center[p], table.half[p, 0], table.half[p, 2])
    raise ValueError(f"unknown primitive kind {kind}")


def _normals(table, origin, rays, t, surface, points) -> tuple[np.ndarray, np.ndarray]:
    """World normals (N, 3) facing the rays, and box-frame hit coordinates (N, 3) on boxes."""
    normal = np.zeros_like(points)
    local = np.zeros_like(points)
    room = surface < NUM_ROOM_SURFACES
    normal[room] = ROOM_NORMALS[surface[room]]
    prim = surface - NUM_ROOM_SURFACES
    kind = np.where(room, -1, table.kind[np.maximum(prim, 0)] if len(table.kind) else -1)

    idx = np.flatnonzero(kind == BOX)
    p = prim[idx]
    c, s = table.cos[p], table.sin[p]
    o = np.stack(to_box(origin - table.center[p], c, s), axis=1)
    d = np.stack(to_box(rays[idx], c, s), axis=1)
    # The face a ray enters through is the slab it enters last.
    entry = np.minimum((-table.half[p] - o) / d, (table.half[p] - o) / d)
    axis = np.argmax(entry, axis=1)
    n = np.zeros_like(d)
    n[np.arange(len(idx)), axis] = -np.sign(d[np.arange(len(idx)), axis])
    normal[idx] = np.stack([c * n[:, 0] - s * n[:, 1], s * n[:, 0] + c * n[:, 1], n[:, 2]], 1)
    local[idx] = o + t[idx, None] * d

    idx = np.flatnonzero(kind == SPHERE)
    normal[idx] = (points[idx] - table.center[prim[idx]]) / table.half[prim[idx], :1]

    idx = np.flatnonzero(kind == CYLINDER)
    p = prim[idx]
    rel = points[idx] - table.center[p]
    rho = np.hypot(rel[:, 0], rel[:, 1])
    side = np.abs(rho - table.half[p, 0]) < np.abs(np.abs(rel[:, 2]) - table.half[p, 2])
    normal[idx, 0] = np.where(side, rel[:, 0] / rho, 0)
    normal[idx, 1] = np.where(side, rel[:, 1] / rho, 0)
    normal[idx, 2] = np.where(side, 0, np.sign(rel[:, 2]))

    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    # Against rounding at silhouettes and rims: a visible surface faces the camera.
    normal *= np.where(dot(normal, rays) > 0, -1, 1).astype(np.float32)[:, None]
    return normal, local


def _lighting(scene, table, points, normal, surface, emissive) -> np.ndarray:
    """Light (N, 3) reaching each point: ambient plus Lambertian point light with hard shadows."""
    to_light = scene.light_pos - points
    dist2 = dot(to_light, to_light)
    cos = dot(normal, to_light) / np.sqrt(dist2)
    direct = np.maximum(cos, 0) / (1 + dist2 / LIGHT_FALLOFF**2)
    lit = np.flatnonzero((cos > 0) & ~emissive)
    direct[lit] *= _unshadowed(table, points[lit], normal[lit], surface[lit], scene.light_pos)
    return scene.ambient + direct[:, None] * scene.light_color


def _unshadowed(table, points, normal, surface, light) -> np.ndarray:
    """Whether the segment from each point (n, 3) to the light is free of primitives (n,)."""
    start = points + SHADOW_OFFSET * normal
    segment = light - start
    length = np.sqrt(dot(segment, segment))
    visible = np.ones(len(points), dtype=bool)
    if not len(table.kind) or not len(points):
        return visible
    # Cull by bounding spheres: the segment must pass within the radius of the centre.
    to_center = table.center - light
    center_dist = np.sqrt(dot(to_center, to_center))
    cone = np.sqrt(np.maximum(0, 1 - (table.radius / center_dist) ** 2))
    cone[center_dist <= table.radius] = -2.0  # light inside the sphere: no culling
    along = (to_center / center_dist[:, None]) @ (-segment / length[:, None]).T  # (P, n)
    near = length[None, :] > (center_dist - table.radius)[:, None]
    candidates = (along >= cone[:, None]) & near
    for p in np.flatnonzero(candidates.any(axis=1)):
        idx = np.flatnonzero(candidates[p] & visible)
        # A convex primitive cannot shadow itself where it faces the light.
        idx = idx[surface[idx] != NUM_ROOM_SURFACES + p]
        if len(idx):
            visible[idx[_hit(table, p, start[idx], segment[idx]) < 1]] = False
    return visible
