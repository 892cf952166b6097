"""The C reference's uniform generator (docs/behaviour/physics.md §4.2,
docs/behaviour/formats.md §13.1), bit for bit.

Park–Miller "minimal standard" LCG with a 32-entry Bays–Durham shuffle table. The table
(``iy``, ``iv``) is process-wide in the C and shared by every consumer (random misset, mosaic
domains, noise); each consumer owns its seed variable ``idum``. Here the shared part is a
:class:`ShuffleTable` object and each consumer holds a :class:`UniformStream` over it, so a run
creates one table and passes it to the consumers in the C's order.

Every value returned is a binary32 number held in a Python float.
"""
from __future__ import annotations

import struct

IA = 16807
IM = 2147483647
AM = 1.0 / IM
IQ = 127773
IR = 2836
NTAB = 32
NDIV = 1 + (IM - 1) // NTAB
RNMX = 1.0 - 1.2e-7


def fl32(x: float) -> float:
    """Round a double to the nearest binary32 value (returned as a Python float)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


RNMX_F32 = fl32(RNMX)


def lcg_step(idum: int) -> int:
    """One Schrage step: ``IA·idum mod IM`` without overflow (C integer division)."""
    k = idum // IQ if idum >= 0 else -((-idum) // IQ)  # C division truncates toward zero
    idum = IA * (idum - k * IQ) - IR * k
    if idum < 0:
        idum += IM
    return idum


class ShuffleTable:
    """The generator-global state ``iy`` and ``iv[0..31]`` shared by all streams."""

    def __init__(self) -> None:
        self.iy = 0
        self.iv = [0] * NTAB


class UniformStream:
    """One consumer's seed variable over a shared :class:`ShuffleTable`.

    ``seed`` is the stored C value (``-n`` for a command-line ``-seed n``).
    """

    def __init__(self, table: ShuffleTable, seed: int) -> None:
        self.table = table
        self.idum = int(seed)

    def next(self) -> float:
        """One call of the C's ``ran1``: a binary32 value in (0, 1)."""
        t = self.table
        idum = self.idum
        if idum <= 0 or t.iy == 0:
            idum = 1 if -idum < 1 else -idum
            for j in range(NTAB + 7, -1, -1):
                idum = lcg_step(idum)
                if j < NTAB:
                    t.iv[j] = idum
            t.iy = t.iv[0]
        idum = lcg_step(idum)
        j = t.iy // NDIV
        t.iy = t.iv[j]
        t.iv[j] = idum
        self.idum = idum
        value = fl32(AM * t.iy)
        return RNMX_F32 if value > RNMX else value
