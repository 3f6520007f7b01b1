"""Analytic thorax/upper-abdomen anatomy in mm, shared by the CT phantom and the chest radiograph.

Patient coordinates ``(z, y, x)`` in mm: ``z`` cranio-caudal (increasing towards the head), ``y``
antero-posterior (increasing posteriorly, so anterior is at the top of an axial image) and ``x``
right-left (increasing towards the patient's left, radiological display). ``z = 0`` is the level of a
2D slice: the lower thorax, where the right diaphragmatic dome with the liver, both lung bases, the
heart, the descending aorta, a thoracic vertebra and several ribs are cut.

:func:`draw_anatomy` draws every random parameter from a generator (independent of any grid), and
:func:`rasterise` paints the anatomy onto any :class:`~mira.synthesis.shapes.Grid` by priority:
body fat, muscle wall, body cavity, lungs (above the diaphragm), mediastinum, heart, liver and spleen
(below the diaphragm), kidneys, aorta and inferior vena cava, pulmonary vessel trees, paraspinal
muscles, vertebrae (cortical shell, cancellous core, discs, posterior elements), ribs, sternum and
clavicles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .shapes import Grid, Painter, capsule, ellipsoid, polyline, rotation, superellipse_cylinder
from .tissues import LABELS

L = LABELS["ct"]
BG, FAT, MUSCLE, SOFT, LUNG, VESSEL, HEART, LIVER, SPLEEN, KIDNEY, CANC, BONE = (
    L["background"], L["fat"], L["muscle"], L["soft_tissue"], L["lung"], L["vessel"], L["heart"], L["liver"],
    L["spleen"], L["kidney"], L["cancellous_bone"], L["bone"])

CAV = 99  # internal: body cavity not yet assigned (becomes fat)
_RIB_END = (1.6, 2.0, 2.3, 2.45, 2.5, 2.5, 2.5, 2.4, 2.25, 2.05, 1.5, 1.0)  # anterior end angle, rad


@dataclass
class Segment:
    """A tapered vessel segment: endpoints (mm) and radii (mm)."""

    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    r0: float
    r1: float


@dataclass
class Anatomy:
    """Drawn parameters of one thorax/abdomen phantom (all lengths in mm, angles in rad)."""

    A: float                  # body half width (x)
    B: float                  # body half depth (y)
    power: float              # superellipse exponent of the body outline
    t_fat: float
    t_mus: float
    z_neck: float             # the body tapers to the neck above this level
    dome_r: tuple[float, float, float]  # right diaphragm dome apex (z, y, x)
    dome_l: tuple[float, float, float]
    dome_curv: float          # radius of curvature of the domes
    t_dia: float              # diaphragm thickness (gap between lung and liver/spleen)
    y_v: float                # vertebral body centre (y)
    pitch: float              # vertebral pitch along z
    disc: float               # disc height
    z_spine: float            # centre of the vertebra cut at z = 0 (T10)
    vert_r: tuple[float, float]  # vertebral body semi-axes (y, x)
    rib_r: float
    rib_slope: float          # z drop per radian along a rib
    rib_jitter: list[float]
    organs: dict = field(default_factory=dict)   # name -> (center, radii, yaw)
    aorta: list = field(default_factory=list)    # polyline points
    r_aorta: float = 12.0
    ivc: list = field(default_factory=list)
    r_ivc: float = 10.0
    trees: list[Segment] = field(default_factory=list)
    bowel: list = field(default_factory=list)    # (p0, p1, radius) loops of bowel
    esophagus: list = field(default_factory=list)

    @property
    def Ac(self) -> float:
        return self.A - self.t_fat - self.t_mus

    @property
    def Bc(self) -> float:
        return self.B - self.t_fat - self.t_mus

    # ---- analytic helpers -------------------------------------------------------------------
    def body_scale(self, z):
        """Factor on the body semi-axes at height ``z`` (1 below the neck, narrowing above)."""
        t = np.clip((np.asarray(z, dtype=np.float32) - np.float32(self.z_neck)) / np.float32(45.0), 0.0, 1.0)
        return 1.0 - 0.55 * t * t * (3.0 - 2.0 * t)

    def diaphragm(self, y, x):
        """Height (mm) of the diaphragm surface above ``(y, x)``: the higher of two domes, each a
        paraboloid that falls steeply posteriorly (deep posterior recess) and gently anteriorly."""
        out = None
        for zc, yc, xc in (self.dome_r, self.dome_l):
            dy = y - np.float32(yc)
            ky = np.where(dy < 0, np.float32(0.35), np.float32(1.0))  # flatter anteriorly
            d = np.float32(zc) - (ky * dy ** 2 + np.float32(1.2) * (x - np.float32(xc)) ** 2) / np.float32(
                2 * self.dome_curv)
            out = d if out is None else np.maximum(out, d)
        return out

    def dome_height(self, y: float, x: float) -> float:
        """Scalar version of :meth:`diaphragm` (mm) for one point, in plain floats."""
        out = -math.inf
        for zc, yc, xc in (self.dome_r, self.dome_l):
            dy = y - yc
            ky = 0.35 if dy < 0 else 1.0
            out = max(out, zc - (ky * dy * dy + 1.2 * (x - xc) ** 2) / (2 * self.dome_curv))
        return out

    def in_lung(self, p) -> bool:
        """Whether the point ``p`` (mm) lies in a lung (lung ellipsoid, above the diaphragm, clear of
        the mediastinum and the heart)."""
        z, y, x = (float(v) for v in p)
        if z <= self.dome_height(y, x) + 2.0 or abs(x) < 0.16 * self.Ac:
            return False
        if _inside(self.organs["heart"], z, y, x, margin=1.1):
            return False
        return _inside(self.organs["lung_l" if x > 0 else "lung_r"], z, y, x)


def _inside(organ, z: float, y: float, x: float, margin: float = 1.0) -> bool:
    """Point-in-ellipsoid test for an organ ``(center, radii, yaw)`` (plain floats, fast)."""
    (cz, cy, cx), (rz, ry, rx), yaw = organ
    dz, dy, dx = z - cz, y - cy, x - cx
    c, s = math.cos(yaw), math.sin(yaw)
    u1, u2 = c * dy - s * dx, s * dy + c * dx  # local axes: columns of rotation(yaw)
    return (dz / rz) ** 2 + (u1 / ry) ** 2 + (u2 / rx) ** 2 <= margin * margin


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _grow_tree(rng: np.random.Generator, anat: Anatomy, p0: tuple, d: tuple, length: float, radius: float,
               generation: int, out: list[Segment]) -> None:
    """Recursive monopodial branching (a major child continuing the course, a thinner minor child at a
    wider angle) while inside the lung and thicker than 0.45 mm. Vectors are plain float tuples."""
    n = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    d = (d[0] / n, d[1] / n, d[2] / n)
    p1 = (p0[0] + length * d[0], p0[1] + length * d[1], p0[2] + length * d[2])
    r1 = radius * 0.92
    out.append(Segment(tuple(float(v) for v in p0), p1, float(radius), r1))
    if generation >= 11 or r1 < 0.45 or not anat.in_lung(p1):
        return
    # two unit vectors perpendicular to the parent, and a random direction between them
    h = (0.0, 1.0, 0.0) if abs(d[1]) < 0.9 else (1.0, 0.0, 0.0)
    e1 = (d[1] * h[2] - d[2] * h[1], d[2] * h[0] - d[0] * h[2], d[0] * h[1] - d[1] * h[0])
    n1 = math.sqrt(e1[0] ** 2 + e1[1] ** 2 + e1[2] ** 2)
    e1 = (e1[0] / n1, e1[1] / n1, e1[2] / n1)
    e2 = (d[1] * e1[2] - d[2] * e1[1], d[2] * e1[0] - d[0] * e1[2], d[0] * e1[1] - d[1] * e1[0])
    q = rng.random(7).tolist()
    phi = 2 * math.pi * q[0]
    perp = tuple(math.cos(phi) * a + math.sin(phi) * b for a, b in zip(e1, e2))
    for angle, rscale, lscale in ((0.12 + 0.28 * q[1], 0.82 + 0.10 * q[2], 0.80 + 0.12 * q[3]),
                                  (-(0.5 + 0.5 * q[4]), 0.55 + 0.17 * q[5], 0.55 + 0.20 * q[6])):
        ca, sa = math.cos(angle), math.sin(angle)
        child = tuple(ca * a + sa * b for a, b in zip(d, perp))
        _grow_tree(rng, anat, p1, child, length * lscale, r1 * rscale, generation + 1, out)


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one thorax/upper-abdomen anatomy (sizes, positions, organ shapes, vessel trees) from ``rng``."""
    u = rng.uniform
    A = u(145.0, 172.0)
    B = A * u(0.66, 0.76)
    t_fat, t_mus = u(8.0, 24.0), u(6.0, 12.0)
    Ac, Bc = A - t_fat - t_mus, B - t_fat - t_mus
    z_r = u(5.0, 22.0)
    z_l = z_r - u(12.0, 25.0)
    pitch = u(24.0, 30.0)
    disc = u(5.0, 8.0)
    vx = u(18.0, 22.0)
    anat = Anatomy(
        A=A, B=B, power=u(2.0, 2.6), t_fat=t_fat, t_mus=t_mus, z_neck=u(265.0, 285.0),
        dome_r=(z_r, -0.1 * Bc, -0.45 * Ac), dome_l=(z_l, -0.05 * Bc, 0.45 * Ac), dome_curv=u(100.0, 140.0),
        t_dia=3.0, y_v=B - u(76.0, 84.0), pitch=pitch, disc=disc,
        z_spine=u(-0.3, 0.3) * (pitch - disc), vert_r=(vx * u(0.75, 0.85), vx), rib_r=u(3.5, 4.5),
        rib_slope=u(22.0, 32.0), rib_jitter=list(u(-3.0, 3.0, 12)),
    )
    yaw = lambda s: u(-s, s)  # noqa: E731
    o = anat.organs
    for s, name in ((-1, "lung_r"), (1, "lung_l")):
        o[name] = ((u(85.0, 105.0), 0.05 * Bc, s * u(0.47, 0.53) * Ac),
                   (u(165.0, 185.0), u(0.92, 1.0) * Bc, u(0.5, 0.56) * Ac), yaw(0.08))
    o["heart"] = ((z_l + u(30.0, 45.0), -u(0.25, 0.35) * Bc, u(0.08, 0.16) * Ac),
                  (u(60.0, 72.0), u(0.45, 0.55) * Bc, u(0.45, 0.55) * Ac), -u(0.3, 0.65))
    o["liver_r"] = ((z_r - u(65.0, 85.0), u(-0.05, 0.05) * Bc, -u(0.38, 0.46) * Ac),
                    (u(90.0, 110.0), u(0.9, 1.0) * Bc, u(0.58, 0.66) * Ac), yaw(0.1))
    o["liver_l"] = ((z_r - u(40.0, 55.0), -u(0.4, 0.5) * Bc, u(0.08, 0.2) * Ac),
                    (u(40.0, 55.0), u(0.35, 0.45) * Bc, u(0.32, 0.45) * Ac), yaw(0.15))
    o["spleen"] = ((z_l - u(45.0, 65.0), u(0.4, 0.5) * Bc, u(0.58, 0.66) * Ac),
                   (u(45.0, 60.0), u(0.35, 0.45) * Bc, u(0.18, 0.24) * Ac), u(0.4, 0.8))
    o["stomach"] = ((z_l - u(35.0, 50.0), -u(0.2, 0.35) * Bc, u(0.33, 0.45) * Ac),
                    (u(40.0, 55.0), u(0.3, 0.4) * Bc, u(0.22, 0.3) * Ac), u(-0.5, 0.5))
    for _ in range(10):
        c = np.array([u(-260.0, z_r - 90.0), u(-0.8, 0.3) * Bc, u(-0.7, 0.7) * Ac])
        ang = u(0, 2 * np.pi)
        half = 0.5 * u(30.0, 60.0) * np.array([u(-0.3, 0.3), np.sin(ang), np.cos(ang)])
        anat.bowel.append((tuple(c - half), tuple(c + half), u(9.0, 15.0)))
    anat.esophagus = [(320.0, anat.y_v - 26.0, 0.0), (z_l + 30.0, anat.y_v - 32.0, 5.0),
                      (z_l - 15.0, -0.1 * Bc, 0.3 * Ac)]
    zk = -u(100.0, 125.0)
    for s, name, dz in ((-1, "kidney_r", -u(5.0, 15.0)), (1, "kidney_l", 0.0)):
        o[name] = ((zk + dz, anat.y_v + u(0.0, 10.0), s * u(0.3, 0.36) * Ac),
                   (u(48.0, 58.0), u(20.0, 25.0), u(25.0, 30.0)), s * u(0.35, 0.65))
    ax = u(0.1, 0.16) * Ac
    anat.r_aorta = u(10.0, 14.0)
    z_arch = u(160.0, 180.0)
    anat.aorta = [(z_l + 75.0, -0.25 * Bc, 0.05 * Ac), (z_arch - 25.0, -0.3 * Bc, 0.0),
                  (z_arch, -0.05 * Bc, 0.08 * Ac), (z_arch - 12.0, anat.y_v - 20.0, ax + 5.0),
                  (z_arch - 60.0, anat.y_v - 22.0, ax), (-300.0, anat.y_v - 24.0, 0.8 * ax)]
    anat.r_ivc = u(9.0, 12.0)
    anat.ivc = [(-300.0, anat.y_v - 28.0, -0.2 * Ac), (z_r - 12.0, anat.y_v - 40.0, -0.22 * Ac),
                (z_r + 20.0, -0.1 * Bc, -0.08 * Ac)]
    # pulmonary vessel trees from each hilum: apical, anterior, middle/lingular, superior-segment and
    # four basal trunks
    for s in (-1, 1):
        hilum = (u(70.0, 90.0), u(-0.1, 0.1) * Bc, s * u(0.26, 0.32) * Ac)
        for trunk in ((0.85, 0.1, 0.5 * s), (0.3, -0.8, 0.5 * s), (-0.2, -0.6, 0.75 * s), (-0.1, 0.9, 0.4 * s),
                      (-0.9, -0.35, 0.3 * s), (-0.85, 0.1, 0.55 * s), (-0.75, 0.6, 0.3 * s), (-0.95, 0.25, 0.05 * s)):
            direction = tuple(_unit(np.asarray(trunk) + rng.normal(0.0, 0.12, 3)).tolist())
            _grow_tree(rng, anat, hilum, direction, u(24.0, 32.0), u(3.5, 5.0), 0, anat.trees)
        for _ in range(6):  # extra basal branches fanning out towards the lung base
            direction = (-1.0, u(-0.6, 0.9), s * u(0.1, 0.9))
            _grow_tree(rng, anat, hilum, direction, u(30.0, 40.0), u(2.5, 3.5), 1, anat.trees)
    return anat


def _organ_patch(grid: Grid, organ):
    center, radii, yaw = organ
    return ellipsoid(grid, center, radii, rotation(yaw) if yaw else None)


def _superellipse_point(a: float, b: float, p: float, phi: float) -> tuple[float, float]:
    s, c = np.sin(phi), np.cos(phi)
    return b * np.sign(c) * abs(c) ** (2.0 / p), a * np.sign(s) * abs(s) ** (2.0 / p)


def rasterise(anat: Anatomy, grid: Grid) -> np.ndarray:
    """Paint ``anat`` on ``grid``; returns the ``uint8`` CT label map (labels of ``LEGENDS["ct"]``)."""
    pt = Painter(grid, BG)
    A, B, p, Ac, Bc = anat.A, anat.B, anat.power, anat.Ac, anat.Bc
    scale = anat.body_scale
    pt.paint(superellipse_cylinder(grid, (0.0, 0.0), (B, A), p, semi_scale_z=scale), FAT)
    pt.paint(superellipse_cylinder(grid, (0.0, 0.0), (B - anat.t_fat, A - anat.t_fat), p, semi_scale_z=scale), MUSCLE)
    cavity = superellipse_cylinder(grid, (0.0, 0.0), (Bc, Ac), p, semi_scale_z=scale)
    pt.paint(cavity, CAV)
    o = anat.organs
    for name in ("lung_r", "lung_l"):
        patch = _organ_patch(grid, o[name])
        if patch is not None:
            pt.paint(patch, LUNG, only=(CAV,), where=patch.zz > anat.diaphragm(patch.yy, patch.xx) + 1.0)
    pt.paint(superellipse_cylinder(grid, (0.0, 0.0), (Bc, 0.16 * Ac), 2.0), CAV, only=(LUNG,))  # mediastinum
    patch = _organ_patch(grid, o["heart"])
    if patch is not None:
        pt.paint(patch, HEART, only=(CAV, LUNG), where=patch.zz > anat.diaphragm(patch.yy, patch.xx) + 3.0)
    for name, lab in (("liver_r", LIVER), ("liver_l", LIVER), ("spleen", SPLEEN), ("stomach", SOFT)):
        patch = _organ_patch(grid, o[name])
        if patch is not None:
            pt.paint(patch, lab, only=(CAV,), where=patch.zz < anat.diaphragm(patch.yy, patch.xx) - anat.t_dia)
    if cavity is not None:  # the diaphragm: a muscle sheet between the lung bases and the upper abdomen
        zd = anat.diaphragm(cavity.yy, cavity.xx)
        pt.paint(cavity, MUSCLE, only=(CAV,), where=(cavity.zz <= zd + 1.0) & (cavity.zz >= zd - anat.t_dia - 1.0))
    for name in ("kidney_r", "kidney_l"):
        pt.paint(_organ_patch(grid, o[name]), KIDNEY, only=(CAV, LIVER, SPLEEN))
    for p0, p1, r in anat.bowel:
        pt.paint(capsule(grid, p0, p1, r), SOFT, only=(CAV,))
    for patch in polyline(grid, anat.esophagus, 7.0):
        pt.paint(patch, SOFT, only=(CAV, LUNG))
    for patch in polyline(grid, anat.aorta, anat.r_aorta):
        pt.paint(patch, VESSEL, only=(CAV, LUNG, HEART, LIVER, SOFT))
    for patch in polyline(grid, anat.ivc, anat.r_ivc):
        pt.paint(patch, VESSEL, only=(CAV, LIVER, HEART))
    # pulmonary vessels: drop branches far below the voxel size, keep thin ones one voxel wide
    dmin = grid.min_spacing
    zlo, zhi = float(grid.z[0]), float(grid.z[-1])
    for seg in anat.trees:
        if seg.r0 < 0.25 * dmin:
            continue
        rr = max(seg.r0, seg.r1)
        if min(seg.p0[0], seg.p1[0]) - rr > zhi + dmin or max(seg.p0[0], seg.p1[0]) + rr < zlo - dmin:
            continue
        pt.paint(capsule(grid, seg.p0, seg.p1, max(seg.r0, 0.55 * dmin), max(seg.r1, 0.55 * dmin)), VESSEL,
                 only=(LUNG,))
    _paint_spine(pt, anat)
    _paint_ribs(pt, anat)
    pt.region[pt.region == CAV] = FAT  # what is left of the cavity is mediastinal / visceral fat
    return pt.region


def _paint_spine(pt: Painter, anat: Anatomy) -> None:
    grid = pt.grid
    vy, vx = anat.vert_r
    yv = anat.y_v
    inside = (FAT, MUSCLE, SOFT, LUNG, VESSEL, HEART, LIVER, SPLEEN, KIDNEY, CAV)
    # paraspinal muscles
    for s in (-1, 1):
        pt.paint(superellipse_cylinder(grid, (yv + vy + 24.0, s * (vx + 8.0)), (24.0, 20.0), 2.0), MUSCLE,
                 only=(CAV, SOFT, LUNG, MUSCLE, FAT, KIDNEY))
    h = anat.pitch - anat.disc
    k_lo = int(np.floor((float(grid.z[0]) - 40.0 - anat.z_spine) / anat.pitch))
    k_hi = int(np.ceil((float(grid.z[-1]) + 40.0 - anat.z_spine) / anat.pitch))
    yc = yv + vy + 10.0  # spinal canal centre
    for k in range(k_lo, k_hi + 1):
        zc = anat.z_spine + k * anat.pitch
        zr = (zc - h / 2, zc + h / 2)
        pt.paint(superellipse_cylinder(grid, (yc, 0.0), (13.5, 13.0), 2.0, z_range=(zc - h / 2 + 3, zc + h / 2 - 3)),
                 BONE, only=inside)
        pt.paint(superellipse_cylinder(grid, (yc, 0.0), (8.5, 8.0), 2.0, z_range=zr), SOFT, only=inside + (BONE,))
        pt.paint(superellipse_cylinder(grid, (yv, 0.0), (vy, vx), 2.0, z_range=zr), BONE, only=inside + (BONE,))
        pt.paint(superellipse_cylinder(grid, (yv, 0.0), (vy - 2.0, vx - 2.0), 2.0, z_range=(zr[0] + 2, zr[1] - 2)),
                 CANC, only=(BONE,))
        pt.paint(capsule(grid, (zc, yc + 11.0, 0.0), (zc - 16.0, yc + 34.0, 0.0), 4.5, 3.5), BONE, only=inside)
        for s in (-1, 1):
            pt.paint(capsule(grid, (zc + 2.0, yc + 2.0, s * 9.0), (zc + 2.0, yc + 8.0, s * (vx + 16.0)), 4.5, 4.0),
                     BONE, only=inside)


def _paint_ribs(pt: Painter, anat: Anatomy) -> None:
    grid = pt.grid
    inside = (FAT, MUSCLE, SOFT, LUNG, VESSEL, HEART, LIVER, SPLEEN, KIDNEY, CAV)
    vy, vx = anat.vert_r
    yv = anat.y_v
    off = min(anat.t_mus / 2.0, 4.0)
    a, b = anat.Ac + off, anat.Bc + off
    zlo, zhi = float(grid.z[0]) - 80.0, float(grid.z[-1]) + 20.0
    for k in range(1, 13):  # ribs 1..12 articulate with T1..T12; T10 is cut at z = 0
        z0 = anat.z_spine + (10 - k) * anat.pitch + anat.rib_jitter[k - 1]
        if z0 < zlo or z0 > zhi + 160.0:
            continue
        scale = float(anat.body_scale(z0))
        phis = np.linspace(0.3, _RIB_END[k - 1], 9)
        for s in (-1, 1):
            pts = [(z0, yv + 2.0, s * (vx + 2.0)), (z0 + 2.0, yv + vy + 14.0, s * (vx + 16.0))]
            for phi in phis:
                py, px = _superellipse_point(a * scale, b * scale, anat.power, phi)
                pts.append((z0 + 2.0 - anat.rib_slope * (phi - 0.3), py, s * px))
            for patch in polyline(grid, pts, anat.rib_r):
                pt.paint(patch, BONE, only=inside)
    # sternum and clavicles (upper chest; seen in the radiograph)
    pt.paint(ellipsoid(grid, (150.0, -(anat.Bc + 3.0), 0.0), (95.0, 6.0, 14.0)), BONE, only=inside)
    for s in (-1, 1):
        pts = [(248.0, -(anat.Bc + 6.0), s * 18.0), (260.0, -(anat.Bc + 2.0), s * 60.0),
               (266.0, -0.6 * anat.Bc, s * 110.0), (260.0, -0.15 * anat.Bc, s * 0.92 * anat.A)]
        for patch in polyline(grid, pts, 6.0):
            pt.paint(patch, BONE, only=inside)
