"""The version of fpjax (also in pyproject.toml)."""

__version__ = "0.1.0"
