"""Derivatives: the files an exhibit serves instead of its masters.

Each master becomes derived files plus a :class:`DerivationRecord` that lists them with the
master's CID and the settings that made them; a :class:`DerivationCache` keeps them under the
data directory so an unchanged master is never derived twice::

    records   DerivedFile, DerivationRecord (pure values, CIDs)
    cache     DerivationCache (the only I/O: <data dir>/derived/)
    images    derive_image: display image and thumbnail, no metadata of the master
"""

from exhibits.derive.cache import CacheStats, DerivationCache
from exhibits.derive.images import DerivedImage, ImageSettings, derive_image, derive_image_cached
from exhibits.derive.records import DerivationRecord, DerivedFile

__all__ = [
    "CacheStats",
    "DerivationCache",
    "DerivationRecord",
    "DerivedFile",
    "DerivedImage",
    "ImageSettings",
    "derive_image",
    "derive_image_cached",
]
