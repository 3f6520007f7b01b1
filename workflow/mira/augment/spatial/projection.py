"""X-ray projection geometry: a new magnification and a tilted detector as one 2D homography.

A radiograph is a central (point-source) projection. Put the focal spot at the origin and the
central ray along ``z``; the object's mid-plane lies at the source-to-object distance
``SOD = SID - OID`` and the detector at the source-to-image distance ``SID``. A point ``x`` of the
object plane lands on a detector perpendicular to the central ray at ``M x`` with the magnification
``M = SID / SOD``. If the detector is tilted by ``theta`` about an in-plane axis ``u`` through its
centre (detector basis ``e1 = R e_row``, ``e2 = R e_col``, ``R`` the rotation by ``theta`` about
``u``), the ray through ``(x, SOD)`` meets it at detector coordinates ``(a, b)`` with

    ``(a, b, 1) ~ B^-1 K (x_row, x_col, 1)``,  ``B = [e1 e2 (0, 0, SID)]``,  ``K = diag(1, 1, SOD)``,

a projective transform (homography) of the plane, not a 3D rotation of the anatomy (the tilt
keystones the image: the half of the detector tilted towards the source is magnified less).

The stored images hold the reference geometry of the profile (``source_image_distance_mm``,
``object_image_distance_mm``; chest PA 1800 / 150 mm, ``M0 = 1.09``) and their pixel spacing is the
spacing at the object plane (the detector pitch over ``M0``). :class:`ProjectionGeometry` draws a new
SID, OID and tilt within the profile's limits and maps every input pixel ``p`` (pixels, centred) to
the output pixel ``H p`` with ``H = diag(1 / (s M0)) B^-1 K diag(s)`` (``s``: input spacing). The
detector pitch is unchanged, so the recorded spacing at the object becomes ``s / J`` with ``J`` the
magnification of the homography at the image centre (``M / M0`` without tilt): an organ keeps its
size in mm and grows or shrinks by ``M / M0`` in pixels.

Images are resampled linearly (or cubic), the label map with nearest neighbour, by the shared
resampler of :mod:`mira.augment.spatial.grid`; the point maps use
:class:`skimage.transform.ProjectiveTransform`. Because the spacing changes, the transform is applied
on its own (a :class:`~mira.augment.Compose` does not fuse it with neighbouring spatial transforms),
and :meth:`ProjectionGeometry.invert` maps an output-frame image back onto the input frame and
spacing.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation
from skimage.transform import ProjectiveTransform

from ...errors import ParameterError
from ...modalities import ModalityProfile
from ..base import Transform, bounded_range, symmetric_range, value_range_param
from ..sample import Sample
from .chain import resample_chain
from .grid import Geometry


def projection_homography(params: dict[str, Any]) -> np.ndarray:
    """Forward homography of a :class:`ProjectionGeometry` record, in centred pixel coordinates.

    Parameters
    ----------
    params : dict
        ``sid_mm``, ``oid_mm`` (new geometry), ``reference_sid_mm``, ``reference_oid_mm`` (stored
        images), ``tilt_deg``, ``tilt_axis_deg`` (direction of the in-plane tilt axis, degrees from
        the column axis towards the row axis) and ``spacing_mm`` (input spacing at the object, mm,
        numpy order).

    Returns
    -------
    ndarray, shape (3, 3)
        ``H`` with ``(q, 1) ~ H (p, 1)``: input pixel ``p`` (row, column; 0 at the image centre)
        lands on output pixel ``q``.
    """
    sid, oid = float(params["sid_mm"]), float(params["oid_mm"])
    sid0, oid0 = float(params["reference_sid_mm"]), float(params["reference_oid_mm"])
    if not (0 <= oid < sid and 0 <= oid0 < sid0):
        raise ParameterError(f"projection geometry needs 0 <= OID < SID; got SID {sid:g}, OID {oid:g} "
                             f"(reference SID {sid0:g}, OID {oid0:g}) mm")
    m0 = sid0 / (sid0 - oid0)
    th, phi = math.radians(float(params.get("tilt_deg", 0.0))), math.radians(float(params.get("tilt_axis_deg", 0.0)))
    rot = Rotation.from_rotvec(th * np.array([math.sin(phi), math.cos(phi), 0.0])).as_matrix()
    basis = np.column_stack([rot[:, 0], rot[:, 1], [0.0, 0.0, sid]])  # detector axes (row, col) and centre
    object_plane = np.diag([1.0, 1.0, sid - oid])
    spacing = np.asarray(params["spacing_mm"], dtype=np.float64)
    if spacing.shape != (2,) or np.any(spacing <= 0):
        raise ParameterError(f"spacing_mm={params['spacing_mm']} must be two positive values (2D X-ray)")
    to_mm = np.diag([spacing[0], spacing[1], 1.0])
    to_out_px = np.diag([1.0 / (spacing[0] * m0), 1.0 / (spacing[1] * m0), 1.0])
    h = to_out_px @ np.linalg.solve(basis, object_plane) @ to_mm
    return h / h[2, 2]


def _map_points(pts: np.ndarray | None, params: dict, geom: Geometry, inverse: bool) -> np.ndarray:
    """Apply the homography (or its inverse) to physical points ``(2, ...)`` of ``geom`` (mm)."""
    pts = geom.grid_points() if pts is None else pts
    sp = np.asarray(geom.spacing, dtype=np.float64)
    flat = pts.reshape(2, -1).T.astype(np.float64) / sp  # mm -> centred pixels
    tf = ProjectiveTransform(matrix=projection_homography(params))
    out = (tf.inverse(flat) if inverse else tf(flat)) * sp
    return out.T.reshape(pts.shape).astype(np.float32)


class ProjectionGeometry(Transform):
    """X-ray: new source-to-image distance, object magnification and detector tilt (a homography).

    See the module docstring for the geometry. Ranges default to, and must lie within, the X-ray
    profile's limits.

    Parameters
    ----------
    sid_range_mm : (float, float), optional
        Range of the new source-to-image distance, mm; default/limit
        ``profile.source_image_distance_range_mm`` (X-ray 1500-1800).
    oid_range_mm : (float, float), optional
        Range of the new object-to-image distance, mm; default/limit
        ``profile.object_image_distance_range_mm`` (X-ray 100-200). Magnification ``SID / (SID - OID)``.
    tilt_deg : float or (float, float), optional
        Detector tilt range, degrees (scalar ``t`` means ``(-t, t)``); default/limit
        ``profile.detector_tilt_max_deg`` (X-ray 3). The tilt axis direction is drawn uniformly.
    image_order : int
        Image interpolation: 0 nearest, 1 linear (default), 3 cubic; label maps use nearest.
    p : float
        Probability of applying the transform.
    modality : ModalityProfile or str, optional
        The X-ray profile (``Settings.profile("xray")``).

    Drawn parameters: ``sid_mm``, ``oid_mm``, ``tilt_deg``, ``tilt_axis_deg``, the reference geometry
    (``reference_sid_mm``, ``reference_oid_mm``), ``magnification`` (``M``) and
    ``magnification_ratio`` (``M / M0``), ``spacing_mm`` (input) and ``spacing_out_mm`` (output, at
    the object), plus ``order``, ``fill`` and ``value_range``. The forward homography of a record is
    :func:`projection_homography`; :meth:`invert` undoes a record.
    """

    family = "projection"
    spatial = True

    def __init__(self, sid_range_mm=None, oid_range_mm=None, tilt_deg=None, *, image_order: int = 1,
                 p: float = 1.0, modality: str | ModalityProfile | None = None):
        if image_order not in (0, 1, 3):
            raise ParameterError(f"image_order must be 0 (nearest), 1 (linear) or 3 (cubic), got {image_order}")
        self.sid_range_mm, self.oid_range_mm, self.tilt_deg = sid_range_mm, oid_range_mm, tilt_deg
        self.image_order = int(image_order)
        super().__init__(p=p, modality=modality)

    def resolve(self, profile: ModalityProfile) -> dict[str, tuple[float, float]]:
        if profile.source_image_distance_mm <= 0:
            raise ParameterError(f"ProjectionGeometry: the {profile.name} profile has no projection geometry "
                                 "(source_image_distance_mm is 0)")
        sid = bounded_range(self.sid_range_mm, profile.source_image_distance_range_mm, "sid_range_mm", profile,
                            "source_image_distance_range_mm")
        oid = bounded_range(self.oid_range_mm, profile.object_image_distance_range_mm, "oid_range_mm", profile,
                            "object_image_distance_range_mm")
        tilt = symmetric_range(self.tilt_deg, profile.detector_tilt_max_deg, "tilt_deg", profile,
                               "detector_tilt_max_deg")
        return {"sid": sid, "oid": oid, "tilt": tilt}

    def sample_params(self, sample, rng, ranges, profile):
        params: dict[str, Any] = {
            "sid_mm": rng.uniform(*ranges["sid"]), "oid_mm": rng.uniform(*ranges["oid"]),
            "tilt_deg": rng.uniform(*ranges["tilt"]), "tilt_axis_deg": rng.uniform(0.0, 180.0),
            "reference_sid_mm": float(profile.source_image_distance_mm),
            "reference_oid_mm": float(profile.object_image_distance_mm),
            "spacing_mm": list(sample.spacing),
            "order": self.image_order, "fill": float(profile.fill_value), "value_range": value_range_param(profile),
        }
        return {**params, **self.derived(params)}

    @staticmethod
    def derived(params: dict[str, Any]) -> dict[str, Any]:
        """``magnification``, ``magnification_ratio`` and ``spacing_out_mm`` of a geometry record."""
        m = float(params["sid_mm"]) / (float(params["sid_mm"]) - float(params["oid_mm"]))
        m0 = float(params["reference_sid_mm"]) / (float(params["reference_sid_mm"]) - float(params["reference_oid_mm"]))
        jac = projection_homography(params)[:2, :2]  # at the centre (H[2] = (h20, h21, 1), centre -> centre)
        return {"magnification": m, "magnification_ratio": m / m0,
                "spacing_out_mm": [float(s) / abs(float(jac[a, a])) for a, s in enumerate(params["spacing_mm"])]}

    # ---- point maps, as the spatial transforms define them (used by the constraint checks) ----------------
    @classmethod
    def backward_points(cls, pts: np.ndarray | None, params: dict, geom: Geometry) -> np.ndarray:
        """Output point -> input point (mm of ``geom``; the map itself is in pixels, so it holds on either frame)."""
        return _map_points(pts, params, geom, inverse=True)

    @classmethod
    def forward_points(cls, pts: np.ndarray | None, params: dict, geom: Geometry) -> np.ndarray:
        """Input point -> output point (mm of ``geom``)."""
        return _map_points(pts, params, geom, inverse=False)

    @classmethod
    def relabel(cls, label: np.ndarray, params: dict) -> np.ndarray:
        return label

    @classmethod
    def apply(cls, sample: Sample, params: dict[str, Any]) -> Sample:
        if sample.ndim != 2:
            raise ParameterError(f"ProjectionGeometry works on 2D projections; got a {sample.ndim}D sample")
        if np.allclose(projection_homography(params), np.eye(3), rtol=0.0, atol=1e-12):
            out = sample.replace()
        else:
            out = resample_chain(sample, [(cls, params)])
        return out.replace(spacing=tuple(params["spacing_out_mm"]))

    @classmethod
    def invert(cls, sample: Sample, params: dict[str, Any]) -> Sample:
        """Map ``sample`` (in the output frame of the record ``params``) back onto the input frame.

        The image is resampled through the inverse homography (outside the input's view: the
        profile's fill value), the label map with nearest neighbour, and the spacing is set back to
        ``params["spacing_mm"]``. The history is not changed.
        """
        if np.allclose(projection_homography(params), np.eye(3), rtol=0.0, atol=1e-12):
            out = sample.replace()
        else:
            out = resample_chain(sample, [(cls, params)], inverse=True)
        return out.replace(spacing=tuple(params["spacing_mm"]))


__all__ = ["ProjectionGeometry", "projection_homography"]
