"""Compiled kernels applied from outside physics: a policy (:mod:`.policy`) passed to
``render`` chooses between the eager kernel and ahead-of-time compiled packages of it
(:mod:`.packages` on disk, :mod:`.block` the hot block, :mod:`.chunk` a whole chunk).

This package imports the kernel; the kernel never imports it.
"""
from torchbragg.physics.compiled.policy import EAGER, CompilePolicy

__all__ = ["CompilePolicy", "EAGER"]
