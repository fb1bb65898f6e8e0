"""User-facing errors. Each message names what is wrong and, where possible, what to do about it.

The CLI prints ``str(error)`` on one line and exits non-zero; the dashboard shows it with ``st.error``;
the HTTP API returns it as ``{"error": ..., "kind": ...}`` with a 4xx status.
"""


class FaceDashError(Exception):
    """Base class for expected, user-facing failures."""

    exit_code = 2
    http_status = 400


class ConfigError(FaceDashError):
    pass


class ImageError(FaceDashError):
    """The file is missing, empty, not an image, corrupt, or too large."""

    http_status = 422


class NoFaceError(FaceDashError):
    http_status = 422


class WeightsMissingError(FaceDashError):
    """A model's weights file is not on disk and cannot be downloaded here."""

    exit_code = 3
    http_status = 503


class UnknownWorkerError(FaceDashError):
    http_status = 404


class ConsentError(FaceDashError):
    pass


class EnrollmentError(FaceDashError):
    """No usable photo: carries the per-photo verdicts so a UI can show them."""

    def __init__(self, message: str, verdicts=()):
        super().__init__(message)
        self.verdicts = list(verdicts)


class GalleryError(FaceDashError):
    """The gallery folder cannot be read or written."""

    exit_code = 4
    http_status = 500


class EmotionDisabledError(FaceDashError):
    http_status = 403


class StoreError(FaceDashError):
    exit_code = 4
    http_status = 500
