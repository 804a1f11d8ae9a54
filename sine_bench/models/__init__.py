"""Base models by name: ``loading`` turns "toy", "tiny-random", a local diffusers dir
or a hub id into loaded components; ``tiny_random`` builds the tiny random ones.

Import a name from the module that defines it: this package re-exports nothing.
"""
