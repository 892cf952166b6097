"""The project's own realistic crystal for the ``supervisor-like`` parity preset.

A deterministic generator (no third-party data is read or copied) of

* ``crystal.mat`` — a MOSFLM orientation matrix (the ``-mat`` format of
  :mod:`torchbragg.io.matfile`: three rows holding the x, y and z components of a*, b*, c*
  times the wavelength, then the missetting angles, the U matrix and the cell, as MOSFLM
  writes them) of a lysozyme-like tetragonal cell, a = b = 79.1 Å, c = 37.9 Å (space group
  P4₃2₁2), in a fixed general orientation;
* ``crystal.hkl`` — ``h k l F`` lines (the ``-hkl`` format of :mod:`torchbragg.io.hkl`) for
  every index of the full sphere (no symmetry expansion is needed: nanoBragg looks every
  index up directly) out to d = 1.05 Å, which covers the corners of the users' supervisor
  detector (2463x2527 pixels of 0.172 mm at 231.27 mm, λ = 0.9768 Å: about 1.09 Å) with a
  margin for the rounding of fractional indices.

The amplitudes are Wilson-like: a Gaussian-ish complex number from an integer hash
(splitmix64) of the reflection's canonical 4/mmm index — so symmetry mates, Friedel mates
included, share one F — times a smooth falloff exp(-B s²/4) with B = 20 Å², and 0 for the
P4₃2₁2 systematic absences (h00 with h odd, 00l with l not a multiple of 4).

Bit-for-bit stability across machines, Python and numpy versions: the hash is unsigned 64-bit
integer arithmetic, and the floating-point work uses only +, -, *, / and sqrt (correctly rounded
IEEE operations, one ufunc at a time, no reductions); the exponential is a fixed Taylor
polynomial with repeated squaring, not the platform's ``exp``; the rotation comes from an
integer quaternion (no sine or cosine).  Numbers are printed with ``%``-formatting, which is
correctly rounded.  The expected sha256 of both files is checked by
``tests/test_crystal_inputs.py``.

:func:`write_crystal_inputs` writes the files once into a cache folder keyed by
:data:`GENERATOR_VERSION` and a digest of this module's source, atomically, and reuses them
while their recorded sha256 still match.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Bump when the output changes on purpose (the cache folder name changes with it).
GENERATOR_VERSION = "1"

#: Cell (Å) and wavelength (Å) the matrix is written for; the wavelength must be the preset's
#: ``-lambda`` (nanoBragg divides the matrix by it).
CELL_A = 79.1
CELL_C = 37.9
WAVELENGTH_A = 0.9768
#: Resolution limit of the reflection list (Å).
D_MIN_A = 1.05
#: Wilson B factor (Å²) and the amplitude scale at s = 0.
B_FACTOR = 20.0
F_SCALE = 400.0
#: Integer quaternion (w, x, y, z) of the crystal orientation; R = (integer matrix) / |q|².
QUATERNION = (9, 2, -4, 3)
SEED = 0x7B5A_11CE_2463_2527
#: Number of reflections the list holds (checked by the tests).
REFLECTIONS = 858129

MAT_NAME = "crystal.mat"
HKL_NAME = "crystal.hkl"
NAMES = (MAT_NAME, HKL_NAME)
MANIFEST = "manifest.json"

_M64 = (1 << 64) - 1


# --------------------------------------------------------------------------- arithmetic
def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniform_pair(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two uniforms in [0, 1) from the low and high 32 bits (exact in binary64)."""
    scale = 1.0 / 4294967296.0
    lo = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * scale
    hi = (bits >> np.uint64(32)).astype(np.float64) * scale
    return lo, hi


def _exp_neg(x: np.ndarray) -> np.ndarray:
    """exp(-x) for x >= 0 with basic operations only: Taylor (degree 12) of exp(-x/64), then
    six squarings.  Relative error below 1e-13 for x <= 5 (the generator's x = B s²/4 stays
    below 4.6), below 1e-9 for x < 50; the same bits everywhere."""
    y = x * (1.0 / 64.0)
    term = np.ones_like(y)
    total = np.ones_like(y)
    for n in range(1, 13):
        term = term * (-y) * (1.0 / n)
        total = total + term
    for _ in range(6):
        total = total * total
    return total


def rotation_matrix() -> list[list[float]]:
    """The orientation as a rotation matrix from :data:`QUATERNION` (rational entries)."""
    w, x, y, z = QUATERNION
    n = w * w + x * x + y * y + z * z
    m = [[w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
         [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
         [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z]]
    return [[v / n for v in row] for row in m]


# --------------------------------------------------------------------------- the files
def mat_text() -> str:
    """MOSFLM matrix file: rows of λ·U·B (columns a*, b*, c*), missets, U, cell, missets."""
    u = rotation_matrix()
    recip = (1.0 / CELL_A, 1.0 / CELL_A, 1.0 / CELL_C)
    lines = [" ".join(f"{WAVELENGTH_A * u[i][j] * recip[j]:14.10f}" for j in range(3))
             for i in range(3)]
    lines.append(" ".join(f"{0.0:14.10f}" for _ in range(3)))
    lines += [" ".join(f"{u[i][j]:14.10f}" for j in range(3)) for i in range(3)]
    lines.append(" ".join(f"{v:12.4f}" for v in (CELL_A, CELL_A, CELL_C, 90.0, 90.0, 90.0)))
    lines.append(" ".join(f"{0.0:14.10f}" for _ in range(3)))
    return "\n".join(lines) + "\n"


def reflections() -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) int64 indices (h slowest, then k, then l, ascending) and (n,) amplitudes."""
    hmax = int(CELL_A / D_MIN_A)
    lmax = int(CELL_C / D_MIN_A)
    r = np.arange(-hmax, hmax + 1, dtype=np.int64)
    rl = np.arange(-lmax, lmax + 1, dtype=np.int64)
    h, k, l = (a.ravel() for a in np.meshgrid(r, r, rl, indexing="ij"))
    inv_a2 = 1.0 / (CELL_A * CELL_A)
    inv_c2 = 1.0 / (CELL_C * CELL_C)
    s2 = (h * h + k * k).astype(np.float64) * inv_a2 + (l * l).astype(np.float64) * inv_c2
    keep = s2 <= 1.0 / (D_MIN_A * D_MIN_A)
    h, k, l, s2 = h[keep], k[keep], l[keep], s2[keep]

    # canonical index under the Laue group 4/mmm (Friedel mates included)
    ah, ak, al = np.abs(h), np.abs(k), np.abs(l)
    c1, c2 = np.maximum(ah, ak), np.minimum(ah, ak)
    key = (c1.astype(np.uint64) * np.uint64(1 << 20) + c2.astype(np.uint64) * np.uint64(1 << 10)
           + al.astype(np.uint64)) ^ np.uint64(SEED)
    parts = []
    state = key
    for _ in range(4):
        state = _splitmix64(state + np.uint64(0x9E3779B97F4A7C15))
        parts.extend(_uniform_pair(state))
    # two Irwin-Hall(4) deviates (mean 0, variance 1): real and imaginary parts
    root3 = 1.7320508075688772
    x = (parts[0] + parts[1] + parts[2] + parts[3] - 2.0) * root3
    y = (parts[4] + parts[5] + parts[6] + parts[7] - 2.0) * root3
    amp = np.sqrt((x * x + y * y) * 0.5)
    f = F_SCALE * amp * _exp_neg(s2 * (B_FACTOR / 4.0))
    absent = ((k == 0) & (l == 0) & (h % 2 == 1)) | ((h == 0) & (l == 0) & (k % 2 == 1)) | \
             ((h == 0) & (k == 0) & (l % 4 != 0))
    f = np.where(absent, 0.0, f)
    return np.stack([h, k, l], axis=1), f


def hkl_text() -> str:
    idx, f = reflections()
    rows = zip(idx[:, 0].tolist(), idx[:, 1].tolist(), idx[:, 2].tolist(), f.tolist())
    return "".join(["%d %d %d %.2f\n" % row for row in rows])


def generate() -> dict[str, bytes]:
    """The two files' contents, by name."""
    return {MAT_NAME: mat_text().encode("ascii"), HKL_NAME: hkl_text().encode("ascii")}


# --------------------------------------------------------------------------- the cache
def _source_digest() -> str:
    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    except OSError:
        return "nosource"


def default_folder() -> Path:
    """``<cache>/inputs/v<version>-<source digest>``; ``<cache>`` as for the C reference
    (``$TORCHBRAGG_CACHE``, ``$XDG_CACHE_HOME/torchbragg`` or ``~/.cache/torchbragg``)."""
    from torchbragg._cbuild import cache_root

    return cache_root() / "inputs" / f"v{GENERATOR_VERSION}-{_source_digest()}"


def _fallback_folder() -> Path:
    return (Path(tempfile.gettempdir()) / f"torchbragg-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
            / "inputs" / f"v{GENERATOR_VERSION}-{_source_digest()}")


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _current(folder: Path) -> dict[str, Path] | None:
    """The files in ``folder`` when its manifest's sha256 all match, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        wanted = manifest["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if set(wanted) != set(NAMES):
        return None
    if any(_sha256(folder / name) != wanted[name] for name in NAMES):
        return None
    return {name: (folder / name).resolve() for name in NAMES}


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_crystal_inputs(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """Make sure ``folder`` (default :func:`default_folder`) holds the generated files and
    return ``{name: absolute path}``.

    Files whose sha256 match the folder's ``manifest.json`` are reused; otherwise both are
    generated and written atomically (temporary name, then rename; the manifest last), so a
    concurrent or interrupted run never leaves a half-written file in use.  With no
    ``folder`` given and the cache not writable (a read-only image), a per-user folder under
    the temporary directory is used instead.
    """
    targets = [Path(folder)] if folder is not None else [default_folder(), _fallback_folder()]
    errors = []
    for target in targets:
        found = _current(target)
        if found is not None:
            return found
        try:
            target.mkdir(parents=True, exist_ok=True)
            contents = generate()
            for name, data in contents.items():
                _write_atomic(target / name, data)
            manifest = {"generator": "torchbragg.parity.crystal_inputs",
                        "version": GENERATOR_VERSION,
                        "sha256": {n: hashlib.sha256(d).hexdigest() for n, d in contents.items()},
                        "bytes": {n: len(d) for n, d in contents.items()}}
            _write_atomic(target / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        except OSError as exc:
            errors.append(f"{target}: {exc.strerror or exc}")
            continue
        found = _current(target)
        if found is not None:
            return found
        errors.append(f"{target}: the files changed while being written")
    raise OSError("cannot write the generated crystal inputs: " + "; ".join(errors))


def main(argv: list[str] | None = None) -> int:
    """``python -m torchbragg.parity.crystal_inputs [FOLDER]``: write (or find) the files and
    print their paths, sizes and sha256."""
    argv = sys.argv[1:] if argv is None else argv
    paths = write_crystal_inputs(argv[0] if argv else None)
    for name, path in paths.items():
        print(f"{name}\t{path}\t{path.stat().st_size} bytes\tsha256 {_sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
