"""Physics: geometry set-up (scalars) and the vectorised pixel kernel (tensors).

Nothing in this package knows about command-line flags or files.
"""
