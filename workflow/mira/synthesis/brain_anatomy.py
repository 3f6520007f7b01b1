"""Analytic brain anatomy in mm for the MRI phantom.

Head coordinates ``(z, y, x)`` in mm: ``z`` cranio-caudal (up), ``y`` antero-posterior (posterior
positive, anterior at the top of an axial image), ``x`` right-left. The head is a set of nested,
slightly egg-shaped ellipsoids (scalp, skull, subarachnoid CSF, brain). Inside the brain:

* a folded cortex: sulci are the zero set of a random sum of plane waves (wavelengths 10-16 mm, sulci ~10 mm apart);
  CSF fills each sulcus to a varying depth and a grey-matter ribbon lines the surface, the sulci and
  the interhemispheric fissure; white matter fills the rest;
* deep grey nuclei (caudate, thalamus, lentiform nucleus);
* lateral ventricles (frontal horn, body, atrium, occipital and temporal horns) and the third
  ventricle, enlarged by an atrophy factor.

A small in-plane head rotation (yaw) and offset are drawn per case. ``z = 0`` is the brain centre;
2D slices are cut at the level of the ventricle bodies.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .shapes import Grid, Painter, ellipsoid, polyline, rotation
from .tissues import LABELS

L = LABELS["mri"]
BG, SCALP, SKULL, CSF, GM, WM = L["background"], L["scalp"], L["skull"], L["csf"], L["grey_matter"], L["white_matter"]


@dataclass
class Brain:
    """Drawn parameters of one head (lengths in mm, angles in rad)."""

    center: np.ndarray            # head centre in the image (z, y, x)
    yaw: float
    brain_r: np.ndarray           # brain semi-axes (z, y, x)
    t_scalp: float
    t_skull: float
    t_csf: float
    egg: float                    # posterior widening of the axial outline
    t_gm: float                   # cortical thickness
    sulcus_depth: float
    sulcus_width: float
    fissure_width: float
    fissure_depth: float
    k: np.ndarray                 # (N, 3) wave vectors of the folding field, rad/mm
    phase: np.ndarray             # (N,)
    k_depth: np.ndarray           # (M, 3) slow field modulating the sulcal depth
    phase_depth: np.ndarray
    ventricles: list = field(default_factory=list)   # (points (head frame), radii)
    third_ventricle: tuple = ()
    nuclei: list = field(default_factory=list)       # (center, radii, yaw) in the head frame
    atrophy: float = 1.0

    @property
    def rot(self) -> np.ndarray:
        return rotation(self.yaw)

    def to_image(self, p) -> np.ndarray:
        """Head-frame point(s) (mm) -> image coordinates (mm)."""
        return self.center + self.rot @ np.asarray(p, float)


def draw_brain(rng: np.random.Generator) -> Brain:
    """Draw one head/brain anatomy from ``rng`` (independent of any grid)."""
    u = rng.uniform
    n_modes = 24
    dirs = rng.normal(size=(n_modes, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    k = dirs * (2 * np.pi / u(10.0, 16.0, n_modes))[:, None]
    dirs2 = rng.normal(size=(4, 3))
    dirs2 /= np.linalg.norm(dirs2, axis=1, keepdims=True)
    atrophy = u(0.8, 1.6)
    b = Brain(
        center=np.array([0.0, u(-3.0, 3.0), u(-3.0, 3.0)]), yaw=u(-0.09, 0.09),
        brain_r=np.array([u(62.0, 72.0), u(78.0, 86.0), u(60.0, 68.0)]),
        t_scalp=u(4.0, 7.0), t_skull=u(5.0, 8.0), t_csf=u(1.0, 2.0) * atrophy, egg=u(0.04, 0.1),
        t_gm=u(2.5, 3.5), sulcus_depth=u(12.0, 20.0), sulcus_width=u(1.2, 2.0) * atrophy,
        fissure_width=u(2.0, 3.5) * atrophy, fissure_depth=u(35.0, 45.0),
        k=k, phase=u(0, 2 * np.pi, n_modes), k_depth=dirs2 * (2 * np.pi / u(60.0, 100.0, 4))[:, None],
        phase_depth=u(0, 2 * np.pi, 4), atrophy=atrophy,
    )
    sc = float(np.mean(b.brain_r)) / 70.0
    v = atrophy
    wx = 1.0 + 0.15 * (v - 1.0)
    for s in (-1, 1):
        pts = [(10, -30, 9), (15, -16, 12), (17, 0, 13), (16, 16, 16), (10, 28, 21), (5, 45, 18)]
        rad = [3.0, 5.0, 4.5, 5.0, 6.5, 2.0]
        jit = rng.normal(0.0, 1.0, (len(pts), 3))
        pts = [(z * sc + j[0], y * sc + j[1], s * (x * wx * sc + 0.5 * j[2])) for (z, y, x), j in zip(pts, jit)]
        b.ventricles.append((pts, [r * v for r in rad]))
        temporal = [pts[4], (-12 * sc, 20 * sc, s * 30 * sc * wx), (-22 * sc, -5 * sc, s * 30 * sc * wx)]
        b.ventricles.append((temporal, [6.5 * v, 3.0 * v, 2.0 * v]))
        b.nuclei.append(((12 * sc, -14 * sc, s * (14 * wx + 5.5 * v) * sc), (10 * sc, 11 * sc, 6 * sc), s * 0.3))
        b.nuclei.append(((2 * sc, 10 * sc, s * 11 * sc * wx), (10 * sc, 15 * sc, 9 * sc), s * 0.15))
        b.nuclei.append(((0.0, -4 * sc, s * 25 * sc * wx), (11 * sc, 15 * sc, 6.5 * sc), s * 0.2))
    b.third_ventricle = ((-2 * sc, 6 * sc, 0.0), (10 * sc, 12 * sc, 2.0 * v))
    return b


def _folding(brain: Brain, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm, first order ``|f| / |grad f|``) to the nearest sulcus midline, and a slow field
    in [-1, 1] modulating the sulcal depth, at head-frame points ``p`` (n, 3)."""
    f = np.zeros(p.shape[0], np.float32)
    g = np.zeros((p.shape[0], 3), np.float32)
    for kv, ph in zip(brain.k.astype(np.float32), brain.phase.astype(np.float32)):
        arg = p @ kv + ph
        f += np.cos(arg)
        g -= np.sin(arg)[:, None] * kv[None, :]
    dist = np.abs(f) / np.maximum(np.linalg.norm(g, axis=1), np.float32(1e-3))
    slow = np.zeros(p.shape[0], np.float32)
    for kv, ph in zip(brain.k_depth.astype(np.float32), brain.phase_depth.astype(np.float32)):
        slow += np.cos(p @ kv + ph)
    return dist, slow / 4.0


def rasterise_brain(brain: Brain, grid: Grid) -> np.ndarray:
    """Paint ``brain`` on ``grid``; returns the ``uint8`` MRI label map (labels of ``LEGENDS["mri"]``)."""
    zz, yy, xx = np.meshgrid(*grid.axes, indexing="ij")
    d = np.stack([zz.ravel(), yy.ravel(), xx.ravel()], axis=1) - brain.center.astype(np.float32)
    p = (d @ brain.rot.astype(np.float32))  # head frame: R^T d for each row
    # egg shape: the axial outline widens posteriorly
    xs = p[:, 2] / (1.0 + np.float32(brain.egg) * np.clip(p[:, 1] / np.float32(brain.brain_r[1]), -1, 1))
    q = np.stack([p[:, 0], p[:, 1], xs], axis=1)
    region = np.zeros(q.shape[0], np.uint8)

    def rho(radii):
        return np.sqrt(((q / np.asarray(radii, np.float32)) ** 2).sum(axis=1))

    r_b = brain.brain_r
    for lab, extra in ((SCALP, brain.t_scalp + brain.t_skull + brain.t_csf), (SKULL, brain.t_skull + brain.t_csf),
                       (CSF, brain.t_csf)):
        region[rho(r_b + extra) <= 1.0] = lab
    rb = rho(r_b)
    inside = rb <= 1.0
    region[inside] = WM
    norm = np.linalg.norm(q, axis=1)
    depth = np.where(inside, (1.0 / np.maximum(rb, 1e-3) - 1.0) * norm, -1.0)  # mm below the brain surface
    shell = inside & (depth < brain.sulcus_depth * 1.4 + brain.t_gm + 1.0)
    idx = np.flatnonzero(shell)
    dist, slow = _folding(brain, q[idx])
    dep = depth[idx]
    sdepth = brain.sulcus_depth * (1.0 + 0.4 * slow)
    half = brain.sulcus_width / 2.0
    lab = np.full(idx.size, WM, np.uint8)
    lab[(dep < brain.t_gm) | ((dist < half + brain.t_gm) & (dep < sdepth + brain.t_gm))] = GM
    lab[(dist < half) & (dep < sdepth)] = CSF
    region[idx] = lab
    # interhemispheric fissure lined by medial cortex
    fx = np.abs(q[:, 2])
    above = q[:, 0] > np.float32(-0.25 * r_b[0])  # below this level the hemispheres join the brainstem
    fiss = inside & above & (depth < brain.fissure_depth + brain.t_gm) & (fx < brain.fissure_width / 2 + brain.t_gm)
    region[fiss & (region == WM)] = GM
    region[inside & above & (depth < brain.fissure_depth) & (fx < brain.fissure_width / 2)] = CSF
    region = region.reshape(grid.shape)
    # deep grey nuclei, then ventricles (in image coordinates)
    pt = Painter(grid)
    pt.region = region
    for c, radii, yaw in brain.nuclei:
        pt.paint(ellipsoid(grid, brain.to_image(c), radii, brain.rot @ rotation(yaw)), GM, only=(WM,))
    for pts, radii in brain.ventricles:
        for patch in polyline(grid, [brain.to_image(p) for p in pts], radii):
            pt.paint(patch, CSF, only=(WM, GM))
    c, radii = brain.third_ventricle
    pt.paint(ellipsoid(grid, brain.to_image(c), radii, brain.rot), CSF, only=(WM, GM))
    return pt.region
