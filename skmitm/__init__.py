"""skmitm: cross-resolution face identification with a scikit-learn API.

Implements "Meet-in-the-middle: Multi-scale upsampling and matching for
cross-resolution face recognition" (Grm, Özata, Štruc, Ekenel, WACV-W 2023):
probes are super-resolved, gallery images are degraded and resolution-matched,
and the two meet in the middle at several scales.
"""

from ._cropping import FaceCropper
from ._detection import ARCFACE_TEMPLATE, DetectedFace, FaceAligner, detect_faces, similarity_transform
from ._degradation import (
    DEGRADATIONS,
    GalleryDegrader,
    apply_chain,
    brightness_jitter,
    color_jitter,
    degradation_chains,
    disk_blur,
    down_up_rescale,
    gaussian_blur,
    gaussian_noise,
    match_resolution,
    motion_blur,
    patch_shuffle,
    random_perspective,
    random_shear,
    speckle_noise,
)
from ._edsr import FaceEDSR, load_edsr
from ._hypotheses import KINDS, META_DTYPE, HypothesisSet, as_hypothesis_sets, make_meta
from ._identification import FUSION_STRATEGIES, SIMILARITIES, FusedNearestNeighborIdentifier
from ._ablation import ablation_grid, run_ablation
from ._model_selection import RepeatedSubjectSubsampling
from ._pipeline import make_mitm_pipeline
from ._templates import TemplateExtractor
from ._upsampling import MultiHypothesisUpsampler
from ._io import load_image
from ._validation import check_images

__version__ = "0.1.0.dev0"

__all__ = [
    "FUSION_STRATEGIES",
    "SIMILARITIES",
    "FusedNearestNeighborIdentifier",
    "KINDS",
    "META_DTYPE",
    "HypothesisSet",
    "RepeatedSubjectSubsampling",
    "ablation_grid",
    "make_mitm_pipeline",
    "run_ablation",
    "as_hypothesis_sets",
    "check_images",
    "load_image",
    "make_meta",
    "DEGRADATIONS",
    "GalleryDegrader",
    "apply_chain",
    "brightness_jitter",
    "color_jitter",
    "degradation_chains",
    "disk_blur",
    "down_up_rescale",
    "gaussian_blur",
    "gaussian_noise",
    "match_resolution",
    "motion_blur",
    "patch_shuffle",
    "random_perspective",
    "random_shear",
    "speckle_noise",
    "TemplateExtractor",
    "MultiHypothesisUpsampler",
    "FaceEDSR",
    "load_edsr",
    "FaceCropper",
    "ARCFACE_TEMPLATE",
    "DetectedFace",
    "FaceAligner",
    "detect_faces",
    "similarity_transform",
]
