"""Sample traces (docs/behaviour/trace.md §8) and a fake nanoBragg program for the parity-harness
tests."""
from __future__ import annotations

#: docs/behaviour/trace.md §8.2: raw run-level lines of the instrumented C copy, and their
#: normalised form (None = informational, kept but never compared).
RAW_RUN_LEVEL = """\
TRACE_C:detector_convention=MOSFLM
TRACE_C:angles_rad=rotx:0 roty:0 rotz:0 twotheta:0
TRACE_C:beam_center_m=X:1.65e-06 Y:1.65e-06 pixel_mm:0.1
TRACE_C:initial_fdet=0 0 1
TRACE_C:initial_sdet=0 -1 0
TRACE_C:initial_odet=1 0 0
TRACE_C:Rx=[1 0 0; 0 1 -0; 0 0 1]
TRACE_C:Ry=[1 0 0; 0 1 0; -0 0 1]
TRACE_C:Rz=[1 -0 0; 0 1 0; 0 0 1]
TRACE_C:R_total=[1 0 0; 0 1 0; 0 0 1]
TRACE_C:fdet_after_rotz=0 0 1
TRACE_C:sdet_after_rotz=0 -1 0
TRACE_C:odet_after_rotz=1 0 0
TRACE_C:twotheta_axis=0 0 -1
TRACE_C:fdet_after_twotheta=0 0 1
TRACE_C:sdet_after_twotheta=0 -1 0
TRACE_C:odet_after_twotheta=1 0 0
TRACE_C:convention_mapping=Fbeam\u2190Ybeam_mm(+0.5px),Sbeam\u2190Xbeam_mm(+0.5px),beam_vec=[1 0 0]
TRACE_C:Fbeam_m=0.0017
TRACE_C:Sbeam_m=0.0017
TRACE_C:distance_m=0.02
TRACE_C:term_fast=-0 -0 -0.0017
TRACE_C:term_slow=-0 0.0017 -0
TRACE_C:term_beam=0.02 0 0
TRACE_C:pix0_vector=0.02 0.0017 -0.0017
TRACE_CONFIG: tracing pixel (spixel=8, fpixel=17)
"""

NORMALISED_RUN_LEVEL = [
    ("detector_convention", None),
    ("detector_rotx_rad", "0"), ("detector_roty_rad", "0"), ("detector_rotz_rad", "0"),
    ("detector_twotheta_rad", "0"),
    ("beam_center_m", None), ("initial_fdet", None), ("initial_sdet", None),
    ("initial_odet", None),
    ("Rx", "1 0 0 0 1 -0 0 0 1"), ("Ry", "1 0 0 0 1 0 -0 0 1"), ("Rz", "1 -0 0 0 1 0 0 0 1"),
    ("R_total", "1 0 0 0 1 0 0 0 1"),
    ("fdet_after_rotz", "0 0 1"), ("sdet_after_rotz", "0 -1 0"), ("odet_after_rotz", "1 0 0"),
    ("twotheta_axis", "0 0 -1"),
    ("fdet_after_twotheta", "0 0 1"), ("sdet_after_twotheta", "0 -1 0"),
    ("odet_after_twotheta", "1 0 0"),
    ("convention_mapping", None),
    ("Fbeam_m", "0.0017"), ("Sbeam_m", "0.0017"), ("distance_m", "0.02"),
    ("term_fast", "-0 -0 -0.0017"), ("term_slow", "-0 0.0017 -0"), ("term_beam", "0.02 0 0"),
    ("pix0_vector", "0.02 0.0017 -0.0017"),
    ("trace_pixel", "8 17"),
]

#: docs/behaviour/trace.md §8.3: the per-pixel lines (already normalised), one sub-pixel.
PIXEL_LINES = """\
TRACE_C: pix0_vector_meters 0.02 0.0017 -0.0017
TRACE_C: fdet_vec 0 0 1
TRACE_C: sdet_vec 0 -1 0
TRACE_C: pixel_pos_meters 0.02 0.00085 5.00000000000001e-05
TRACE_C: R_distance_meters 0.0200181167945439
TRACE_C: omega_pixel_sr 2.49321849167336e-05
TRACE_C: close_distance_meters 0.02
TRACE_C: obliquity_factor 0.999094980075807
TRACE_C: diffracted_vec 0.999094980075807 0.0424615366532218 0.00249773745018952
TRACE_C: incident_vec 1 0 -0
TRACE_C: lambda_meters 1.2e-10
TRACE_C: lambda_angstroms 1.2
TRACE_C: scattering_vec_A_inv -7541832.70160839 353846138.776848 20814478.7515794
TRACE_C: rot_a_angstroms 23.9564236076586 2.31821620211215 -6.76133430401725
TRACE_C: rot_b_angstroms -6.32073400297246 26.8532228858424 4.79090203478845
TRACE_C: rot_c_angstroms 5.87916728336287 -1.22182007228602 30.4128681279026
TRACE_C: rot_a_star_A_inv 0.0387412414327702 0.0103806843556899 -0.00707210216852999
TRACE_C: rot_b_star_A_inv -0.00293160078526498 0.0361883169617885 0.0020205586402551
TRACE_C: rot_c_star_A_inv 0.0090746948195165 -0.00339288631708595 0.0309897099822259
TRACE_C: hkl_frac 0.0498882863786198 0.96492992788752 0.0156351986488464
TRACE_C: hkl_rounded 0 1 0
TRACE_C: F_latt_a 3.75845441555213
TRACE_C: F_latt_b -3.87961601514449
TRACE_C: F_latt_c 3.9759125704523
TRACE_C: F_latt -57.9742122907354
TRACE_C: F_cell 12
TRACE_C: I_before_scaling 483985.3378653
TRACE_C: r_e_meters 2.81794117756025e-15
TRACE_C: r_e_sqr 7.94079248018965e-30
TRACE_C: fluence_photons_per_m2 1.25932015286227e+29
TRACE_C: steps 1
TRACE_C: oversample_thick 0
TRACE_C: oversample_polar 0
TRACE_C: oversample_omega 0
TRACE_C: capture_fraction 1
TRACE_C: polar 0.999903924137501
TRACE_C: omega_pixel 2.49321849167336e-05
TRACE_C: cos_2theta 0.999094980075807
TRACE_C: I_pixel_final 12.0656526112806
TRACE_C: floatimage_accumulated 12.06565284729
"""

#: The whole §8 example as the instrumented copy prints it (with narrative noise).
C_EXAMPLE = ("nanoBragg nanocrystal diffraction simulator\nTRACE: narrative 1.5\n"
             "DETECTOR_FAST_AXIS 0 0 1\n" + RAW_RUN_LEVEL + PIXEL_LINES + "done\n")


def as_py(text: str) -> str:
    """The same trace as the PY side would print it (normalised prefix)."""
    return text.replace("TRACE_C: ", "TRACE_PY: ")


def py_example() -> str:
    """A PY trace of the §8 example in normalised form, with context markers."""
    run = "".join(f"TRACE_PY: {name} {val}\n" for name, val in NORMALISED_RUN_LEVEL
                  if val is not None and name != "trace_pixel")
    return ("TRACE_PY: trace_pixel 8 17\n" + run + "TRACE_PY: pixel 8 17\n"
            "TRACE_PY: subpixel 0 0 0\n" + as_py(PIXEL_LINES))


#: A nanoBragg-compatible fake: writes a float image and prints traces.  Behaviour knobs
#: come from the environment: FAKE_PERTURB_<SIDE>=NAME scales NAME's first value by
#: (1 + 1e-6); FAKE_IMAGE_SCALE_<SIDE>=x scales the image; FAKE_NOTRACE_<SIDE>=1 prints no
#: trace; FAKE_LASTONLY_<SIDE>=1 traces only the last pixel; FAKE_FAIL_<SIDE>=n exits with n.
FAKE_PROGRAM = r'''
import math, os, struct, sys
argv = sys.argv[1:]
side = argv[argv.index("--side") + 1]
def get(flag, n=1):
    if flag in argv:
        i = argv.index(flag)
        return argv[i + 1:i + 1 + n] if n > 1 else argv[i + 1]
    return None
env = lambda k: os.environ.get(k + "_" + side)
print("fake nanoBragg " + side)
print("cwd_entries=" + ",".join(sorted(os.listdir("."))))
print("OMP_NUM_THREADS=%s" % os.environ.get("OMP_NUM_THREADS"))
print("args=" + " ".join(argv))
if env("FAKE_FAIL"):
    print("ERROR: told to fail")
    sys.exit(int(env("FAKE_FAIL")))
hkl = get("-hkl")
if hkl is not None:
    if not os.path.isfile(hkl):
        print("ERROR: unable to open %s." % hkl)
        sys.exit(9)
    open("Fdump.bin", "w").write("cache")
n = int(get("-detpixels") or 16)
print("  distance=0.1 detsize=0x0  pixel=0.0001 meters (%dx%d pixels)" % (n, n))
scale = float(env("FAKE_IMAGE_SCALE") or 1)
img = []
for s in range(n):
    for f in range(n):
        v = 0.01 + 100 * math.exp(-((s - n / 2) ** 2 + (f - n / 2) ** 2) / 4.0)
        v += 50 * math.exp(-((s - n / 4) ** 2 + (f - 3 * n / 4) ** 2) / 2.0)
        img.append(v * scale)
with open(get("-floatfile") or "floatimage.bin", "wb") as fh:
    fh.write(struct.pack("<%df" % len(img), *img))
pixels = [(int(argv[i + 1]), int(argv[i + 2])) for i, a in enumerate(argv) if a == "-trace_pixel"]
if env("FAKE_LASTONLY"):        # like the 2023 copy: only the last -trace_pixel counts
    pixels = pixels[-1:]
if env("FAKE_NOTRACE") or not pixels:
    sys.exit(0)
perturb = env("FAKE_PERTURB")
P = "TRACE_C: " if side == "C" else "TRACE_PY: "
block = open(os.environ["FAKE_BLOCK"]).read().replace("TRACE_C: ", P).splitlines()
def emit(line):
    name = line.split()[1]
    if name == perturb:
        parts = line.split()
        parts[2] = "%.15g" % (float(parts[2]) * (1 + 1e-6))
        line = " ".join(parts)
    print(line)
if side == "C":
    print("TRACE_C:angles_rad=rotx:0 roty:0 rotz:0 twotheta:0")
    print("TRACE_C:detector_convention=MOSFLM")
else:
    for s, f in pixels:
        print("TRACE_PY: trace_pixel %d %d" % (s, f))
    print("TRACE_PY: detector_rotx_rad 0")
    print("TRACE_PY: detector_roty_rad 0")
    print("TRACE_PY: detector_rotz_rad 0")
    print("TRACE_PY: detector_twotheta_rad 0")
    print("TRACE_PY: detector_convention CUSTOM")
for s, f in pixels:
    if side == "C":
        print("TRACE_CONFIG: tracing pixel (spixel=%d, fpixel=%d)" % (s, f))
    else:
        print("TRACE_PY: pixel %d %d" % (s, f))
    for line in block:
        if line.split()[1] == "floatimage_accumulated":
            stored = struct.unpack("<f", struct.pack("<f", img[s * n + f]))[0]
            line = P + "floatimage_accumulated %.15g" % stored
        emit(line)
'''
