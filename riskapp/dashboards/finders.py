"""Serve plotly.js from the installed plotly package as `vendor/plotly.min.js` (never from a CDN).

A finder rather than a copy in the repository: the file always matches the pinned Python package.
"""

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

NAME = "vendor/plotly.min.js"


def _bundle() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path != NAME:
            return [] if find_all else None
        found = str(_bundle())
        return [found] if find_all else found

    def list(self, ignore_patterns):
        folder = _bundle().parent
        yield "plotly.min.js", _PrefixedStorage(location=folder)


class _PrefixedStorage(FileSystemStorage):
    # collectstatic stores a listed file under storage.prefix + its name.
    prefix = "vendor"
