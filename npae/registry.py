"""The registries of layer and model classes, by name, so a saved file can be rebuilt.

:mod:`npae.io` writes a class's key (:func:`registered_name`) into the file and looks it
up here when loading, never importing whatever a file names. Layers enter ``LAYERS`` and
models ``MODELS`` when their class is defined (``__init_subclass__`` calls
:func:`register`). The registries live in a module of their own so that
:mod:`npae.layers`, :mod:`npae.models` and :mod:`npae.io` reach them without importing
each other.
"""

from __future__ import annotations

__all__ = ["LAYERS", "MODELS", "register", "registered_name", "qualified_name"]

#: Every layer class by name (filled by ``npae.layers.Layer``'s subclass hook).
LAYERS: dict[str, type] = {}
#: Every model class by name (filled by ``npae.models.Autoencoder``'s subclass hook).
MODELS: dict[str, type] = {}


def qualified_name(cls: type) -> str:
    """``"module.QualName"`` of a class, e.g. ``"npae.layers.dense.Dense"``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def is_npae_class(cls: type) -> bool:
    """True for a class defined in npae itself (not in a user's module)."""
    return cls.__module__ == "npae" or cls.__module__.startswith("npae.")


def register(registry: dict[str, type], cls: type) -> str:
    """Enter ``cls`` in ``registry`` (``LAYERS`` or ``MODELS``) and return its key.

    A class takes its bare name when that name is free, or held by an earlier
    definition of the same ``module.QualName`` (a notebook cell run again, a
    module reloaded). Otherwise it is entered under its qualified name, so a
    user's ``class Dense(Layer)`` never displaces npae's ``Dense``: the bare
    name goes on meaning what saved files mean by it. npae's own classes always
    take their bare name; a user class that held it first (possible only when a
    npae module is imported late) moves to its qualified name.

    Parameters
    ----------
    registry : dict
        Name -> class.
    cls : type
        The class to enter.

    Returns
    -------
    str
        The key ``cls`` is now found under (what :mod:`npae.io` saves).
    """
    name, qualified = cls.__name__, qualified_name(cls)
    holder = registry.get(name)
    if holder is None or holder is cls or qualified_name(holder) == qualified:
        registry[name] = cls
        return name
    if is_npae_class(cls) and not is_npae_class(holder):
        registry[qualified_name(holder)] = holder
        registry[name] = cls
        return name
    registry[qualified] = cls
    return qualified


def registered_name(registry: dict[str, type], cls: type) -> str | None:
    """The key under which ``registry`` holds ``cls``, or None if it does not."""
    for key in (cls.__name__, qualified_name(cls)):
        if registry.get(key) is cls:
            return key
    return None
