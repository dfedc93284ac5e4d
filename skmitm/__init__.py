"""skmitm: cross-resolution face identification with a scikit-learn API.

Implements "Meet-in-the-middle: Multi-scale upsampling and matching for
cross-resolution face recognition" (Grm, Özata, Štruc, Ekenel, WACV-W 2023):
probes are super-resolved, gallery images are degraded and resolution-matched,
and the two meet in the middle at several scales.
"""

from . import _degradation
from ._adapter import TemplateAdapter
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
from ._enrolment import add_subjects, enrol, load_gallery, save_gallery
from ._hypotheses import KINDS, META_DTYPE, HypothesisSet, as_hypothesis_sets, make_meta
from ._identification import FUSION_STRATEGIES, SIMILARITIES, FusedNearestNeighborIdentifier
from ._model_selection import RepeatedSubjectSubsampling
from ._open_set import OpenSetCalibration, calibrate_open_set, verify
from ._pipeline import MitmPipeline, make_mitm_pipeline
from ._templates import TemplateExtractor
from ._upsampling import MultiHypothesisUpsampler
from ._io import load_image
from ._validation import check_images

__version__ = "0.1.0.dev0"

# The ablation is experiment code behind ``skmitm ablation``: importing skmitm
# does not load it (nor matplotlib); these names import it on first use.
_LAZY = {name: "._ablation" for name in ("ablation_grid", "load_ablation_templates", "run_ablation")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FUSION_STRATEGIES",
    "SIMILARITIES",
    "FusedNearestNeighborIdentifier",
    "KINDS",
    "META_DTYPE",
    "HypothesisSet",
    "RepeatedSubjectSubsampling",
    "ablation_grid",
    "add_subjects",
    "enrol",
    "load_gallery",
    "save_gallery",
    "load_ablation_templates",
    "make_mitm_pipeline",
    "MitmPipeline",
    "run_ablation",
    "as_hypothesis_sets",
    "check_images",
    "load_image",
    "make_meta",
    *_degradation.__all__,
    "TemplateExtractor",
    "TemplateAdapter",
    "MultiHypothesisUpsampler",
    "FaceEDSR",
    "load_edsr",
    "FaceCropper",
    "OpenSetCalibration",
    "calibrate_open_set",
    "verify",
    "ARCFACE_TEMPLATE",
    "DetectedFace",
    "FaceAligner",
    "detect_faces",
    "similarity_transform",
]
