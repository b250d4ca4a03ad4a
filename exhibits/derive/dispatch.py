"""Which derivation an item gets, from its media type and file name, and running it.

:func:`kind_of` sorts a master into a :data:`~exhibits.model.Kind`: a 3D model, an image, a
recording (audio or video), or anything else (shown by a poster). The registered media type
decides where it is specific; 3D formats often travel as ``application/octet-stream`` or
``text/plain`` (OBJ, ASCII PLY/STL), so their file extensions decide too.

:func:`derive_item` calls the one cached deriver of that kind and returns its
:class:`~exhibits.model.ItemFiles`. The derivers of models, recordings and posters live in
modules of their own (:mod:`exhibits.derive.models`, :mod:`exhibits.derive.media`,
:mod:`exhibits.derive.posters`), imported only when an item of that kind is derived: a build
of images never loads trimesh or PyAV.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final, cast

from exhibits.derive.cache import DerivationCache
from exhibits.derive.images import ImageSettings, derive_image_cached
from exhibits.model import ItemFiles, Kind
from ledger.errors import UsageError

__all__ = [
    "MODEL_EXTENSIONS",
    "MODEL_MEDIA_TYPES",
    "DeriveSettings",
    "derive_item",
    "kind_of",
    "settings_json",
]

#: Media types of 3D models (IANA's model/* registrations and the common unregistered ones).
MODEL_MEDIA_TYPES: Final = frozenset(
    {
        "model/gltf-binary",
        "model/gltf+json",
        "model/obj",
        "model/stl",
        "model/x.stl-ascii",
        "model/x.stl-binary",
        "model/ply",
        "model/x-ply",
        "application/sla",
        "application/vnd.ms-pki.stl",
        "application/x-ply",
        "text/x-obj",
    }
)
#: File extensions of the 3D formats a model is derived from (glTF, GLB, OBJ, PLY, STL).
MODEL_EXTENSIONS: Final = frozenset({".glb", ".gltf", ".obj", ".ply", ".stl"})


@dataclass(frozen=True, slots=True)
class DeriveSettings:
    """The settings of each kind's derivation; None: that deriver's defaults. Models and
    recordings take their own modules' settings values (``ModelSettings``, the media
    settings), passed through as they are."""

    image: ImageSettings | None = None
    model: Any = None
    media: Any = None


def kind_of(media_type: str, file_name: str) -> Kind:
    """What a master is in the site, from its media type (parameters and case ignored) and
    its file name's extension."""
    essence = media_type.split(";", 1)[0].strip().lower()
    extension = PurePosixPath(file_name.replace("\\", "/")).suffix.lower()
    if essence in MODEL_MEDIA_TYPES or essence.startswith("model/vnd."):
        return "model"
    if extension in MODEL_EXTENSIONS:
        return "model"
    if essence.startswith("model/"):
        return "model"
    kinds: tuple[Kind, ...] = ("image", "audio", "video")
    for kind in kinds:
        if essence.startswith(kind + "/"):
            return kind
    return "other"


def _deriver(module: str, name: str) -> Callable[..., ItemFiles]:
    """A deriver of another module, imported now (see the module's docstring)."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise UsageError(
            f"this installation has no {module}: it cannot derive items of this kind",
            hint="leave such items out of the exhibit (the spec's items), or update",
        ) from None
    return cast(Callable[..., ItemFiles], getattr(found, name))


def derive_item(
    kind: Kind,
    master: bytes,
    file_name: str,
    media_type: str,
    cache: DerivationCache,
    settings: DeriveSettings | None = None,
) -> ItemFiles:
    """The derived files of one master of ``kind`` (:func:`kind_of`), through ``cache``: an
    unchanged master under unchanged settings is never derived twice."""
    settings = settings or DeriveSettings()
    if kind == "image":
        derived = derive_image_cached(master, settings.image, cache)
        return ItemFiles(kind="image", files=derived.files, records=(derived.record,))
    if kind == "model":
        derive = _deriver("exhibits.derive.models", "derive_model_cached")
        return derive(master, file_name, settings.model, cache)
    if kind in ("audio", "video"):
        derive = _deriver("exhibits.derive.media", "derive_recording_cached")
        return derive(master, file_name, media_type, settings.media, cache)
    derive = _deriver("exhibits.derive.posters", "derive_other_cached")
    return derive(master, file_name, media_type, cache)


def settings_json(kind: Kind, settings: DeriveSettings | None = None) -> object | None:
    """The settings the deriver of ``kind`` runs with (its defaults resolved), as JSON values:
    what the memo of derivations (:class:`exhibits.build_cache.FilesMemo`) is keyed by. None
    when they cannot be told."""
    chosen = settings if settings is not None else DeriveSettings()
    try:
        if kind == "image":
            return (chosen.image or ImageSettings()).to_json()
        if kind == "model":
            from exhibits.derive.models import ModelSettings

            return (chosen.model or ModelSettings()).to_json()
        if kind in ("audio", "video"):
            from exhibits.derive.media import RecordingSettings

            return (chosen.media or RecordingSettings()).to_json()
        from exhibits.derive.posters import PosterSettings

        return PosterSettings().to_json()
    except (ImportError, AttributeError, TypeError):
        return None
