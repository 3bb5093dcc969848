"""mentor: continuous fine-tuning of a small language model, measured at every step."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mentor")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
