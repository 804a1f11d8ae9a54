"""The protocol, layered one way; each module imports only modules before it here:

fields (types, errors, the "HxW" parser), strict_yaml (reading YAML) -> sections (pure
data) -> grid -> method_checks -> root (``Protocol``) -> loading (files, includes) ->
dataset -> cells.

Import a name from the module that defines it: this package re-exports nothing.
"""
