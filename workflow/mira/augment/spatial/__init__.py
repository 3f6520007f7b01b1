"""Spatial transforms (affine, flips, elastic, ultrasound sector) sharing ONE sampling grid.

Every spatial transform is a *backward point map*: for an output point ``p`` (physical
coordinates in mm, centred on the image, numpy axis order) it gives the input point ``q`` whose
value the output takes. A chain of spatial transforms (e.g. affine then elastic inside
:class:`~mira.augment.Compose`) composes those maps into one coordinate map and resamples the
image, every extra sequence and the label map **once** -- images with linear (or cubic)
interpolation, label maps with nearest neighbour -- so there is no double interpolation blur and
label maps cannot drift away from the image.

Resampling uses ``torch.nn.functional.grid_sample`` (linear / nearest; multi-threaded, bitwise
deterministic on CPU) or ``scipy.ndimage.map_coordinates`` (cubic, ``image_order=3``). Outside
the field of view images take the modality's ``fill_value`` (air, -1000 HU, for CT; 0 otherwise)
and label maps 0.

Conventions
-----------
* 2D rotation by a positive angle turns the content counter-clockwise on screen (row axis ``y``
  pointing down); a 3D rotation about the ``z`` axis ``(1, 0, 0)`` equals the 2D in-plane rotation.
* Forward map of :class:`RandomAffine`: ``p_out = R @ Sh @ diag(scale) @ p_in + t`` (scale, then
  shear, then rotation about the image centre, then translation ``t`` in mm).
* Elastic displacements are stated in mm (and pixels = mm / spacing) with control-point spacing in
  mm; see :class:`ElasticDeformation`.
"""
from .affine import (
                     RandomAffine,
                     RandomRotation,
                     RandomScaling,
                     RandomShear,
                     RandomTranslation,
                     affine_matrix,
                     rotation_matrix,
)
from .chain import SpatialTransform, resample_chain
from .elastic import ElasticDeformation, bspline_field, control_grid_shape, elastic_deform_simard, simard_displacement
from .flip import RandomFlip, paired_labels
from .grid import Geometry, warp_arrays, warp_label
from .projection import ProjectionGeometry, projection_homography
from .sector import estimate_sector, sector_mask

__all__ = [
    "Geometry", "SpatialTransform", "RandomAffine", "RandomRotation", "RandomTranslation", "RandomScaling",
    "RandomShear", "RandomFlip", "ElasticDeformation", "elastic_deform_simard", "simard_displacement",
    "bspline_field", "resample_chain", "rotation_matrix", "paired_labels", "warp_arrays", "warp_label",
    "affine_matrix", "control_grid_shape", "estimate_sector", "sector_mask", "ProjectionGeometry",
    "projection_homography",
]
