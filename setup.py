"""The install's one build step beyond the pure-Python package: the native helpers are
compiled into ``torchbragg/_prebuilt`` (:mod:`torchbragg.prebuild`; an editable install
builds them in the source tree). Everything else is in pyproject.toml."""
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

SRC = Path(__file__).resolve().parent / "src"


class BuildPyWithHelpers(build_py):
    """build_py, then the helpers (a failure to compile is said, never fatal)."""

    def run(self):
        super().run()
        root = SRC if self.editable_mode else Path(self.build_lib)
        sys.path.insert(0, str(SRC))  # (torchbragg itself, not torch: the build env has none)
        try:
            from torchbragg.prebuild import prebuild
        finally:
            sys.path.remove(str(SRC))
        prebuild(root / "torchbragg" / "_prebuilt", say=lambda line: print(line, file=sys.stderr))


class PlatformDistribution(Distribution):
    """The wheel holds compiled helpers: tag it for this platform, not py3-none-any."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithHelpers}, distclass=PlatformDistribution)
