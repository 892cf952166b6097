"""The C's generator, mosaic matrices and random misset against the spec's test vectors."""
from __future__ import annotations

import math

import pytest

from torchbragg.physics.crystal import misset_from_matrix
from torchbragg.physics.mosaic import domain_matrices, random_rotation
from torchbragg.physics.vec3 import RTD
from torchbragg.rng import ShuffleTable, UniformStream


def draws(seed, n):
    s = UniformStream(ShuffleTable(), seed)
    return [s.next() for _ in range(n)], s.idum


def test_uniform_vectors():
    vals, idum = draws(-12345678, 6)
    assert vals == [0.7659893035888672, 0.023453664034605026, 0.5897266268730164,
                    0.535101592540741, 0.9822314381599426, 0.6930161118507385]
    assert idum == 1086690778
    vals, idum = draws(-1, 6)
    assert ["%.9g" % v for v in vals] == ["0.415999353", "0.091964893", "0.75641048",
                                          "0.52970022", "0.930436492", "0.383502066"]
    assert idum == 156091745
    assert draws(0, 3)[0] == draws(-1, 3)[0]
    vals, idum = draws(-12345, 6)
    assert ["%.9g" % v for v in vals][:2] == ["0.923120558", "0.333146602"] and idum == 659760666


def test_shared_table_positive_seed_continues():
    table = ShuffleTable()
    first = UniformStream(table, -5)
    first.next()
    iy = table.iy
    positive = UniformStream(table, 7)  # a negative command-line value: no re-initialisation
    positive.next()
    assert table.iy != iy and positive.idum != 7


def test_mosaic_domain_vectors():
    mats = domain_matrices(UniformStream(ShuffleTable(), -12345678), 1.0 / RTD, 3)
    assert mats[0] == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert mats[1] == pytest.approx((0.999863685921936, -0.015948771660075, 0.004271563781035,
                                     0.015952848100371, 0.999872320169452, -0.000921952516486,
                                     -0.004256314378328, 0.000989970449528, 0.999990451827627), abs=1e-15)
    assert mats[2] == pytest.approx((0.999965744385301, 0.005666308338797, 0.006033490346516,
                                     -0.005733674275452, 0.999920758686324, 0.011207199804993,
                                     -0.005969508795105, -0.011241409963865, 0.999918994552443), abs=1e-15)


def test_random_misset_vector():
    U = random_rotation(UniformStream(ShuffleTable(), -42), 90.0)
    assert U == (0.556033492785439, -0.14406636658477168, 0.8185790352311054,
                 -0.012942220052732462, 0.9832433651947539, 0.18183779513787182,
                 -0.8310591157318062, -0.11170213435542839, 0.5448517039888102)
    angles = [a * 180 / math.pi for a in misset_from_matrix(U)]
    assert angles == pytest.approx([-11.585886639425025, 56.20768899769955, -1.333374204498232], rel=1e-14)
