"""The enrollment quality gate: each photo gets a verdict with a reason a person can act on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from core.types import DetectedFace


@dataclass(frozen=True)
class PhotoVerdict:
    """What the gate decided about one enrollment photo. ``face`` is set when exactly one face was found."""

    name: str
    accepted: bool
    reason: str
    sha256: str = ""
    face: DetectedFace | None = None
    sharpness: float | None = None

    @property
    def accepted_face(self) -> DetectedFace:
        """The face of an accepted verdict (always set when ``accepted``)."""
        if self.face is None:
            raise ValueError(f"{self.name}: verdict has no face ({self.reason})")
        return self.face

    def as_dict(self) -> dict:
        return {"photo": self.name, "accepted": self.accepted, "reason": self.reason,
                "sharpness": None if self.sharpness is None else round(self.sharpness, 1),
                "box": self.face.box.as_list() if self.face is not None else None}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dhash(image: np.ndarray, size: int = 8) -> int:
    """Difference hash of the whole photo: survives resizing and re-encoding, so it finds the same picture again."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the face, resized to 128 px so the score does not depend on photo size."""
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    gray = cv2.resize(gray, (128, 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def judge_faces(name: str, digest: str, faces: list[DetectedFace], min_face_size: int, min_sharpness: float) -> PhotoVerdict:
    """Exactly one face, big enough, sharp enough. (Duplicates are judged by the gallery, which knows the others.)"""
    if not faces:
        return PhotoVerdict(name, False, "no face found", digest)
    if len(faces) > 1:
        return PhotoVerdict(name, False, f"{len(faces)} faces found; use a photo showing only this worker", digest)
    face = faces[0]
    side = min(face.box.w, face.box.h)
    if side < min_face_size:
        return PhotoVerdict(name, False, f"face is {side} px, below the {min_face_size} px minimum; use a closer photo",
                            digest, face)
    score = sharpness(face.crop)
    if score < min_sharpness:
        return PhotoVerdict(name, False, f"face is too blurry (sharpness {score:.1f} < {min_sharpness:.1f})",
                            digest, face, score)
    return PhotoVerdict(name, True, "ok", digest, face, score)


def judge_yaw(verdict: PhotoVerdict, image: np.ndarray, max_yaw_degrees: float, weights_dir) -> PhotoVerdict:
    """Refuse a strongly turned face: recognition compares frontal-ish chips, and one profile enrollment photo
    pulls strangers' profiles towards this worker."""
    from core.alignment import landmarks5, points, yaw_degrees

    yaw = yaw_degrees(points(landmarks5(image, [verdict.accepted_face], weights_dir)[0]))
    if abs(yaw) > max_yaw_degrees:
        return PhotoVerdict(verdict.name, False, f"face is turned sideways (yaw about {abs(yaw):.0f} degrees, at most "
                            f"{max_yaw_degrees:.0f} accepted); use a photo facing the camera", verdict.sha256,
                            verdict.face, verdict.sharpness)
    return verdict
