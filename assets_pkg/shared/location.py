"""One storage location type: a folder, or a file in it, on the local disk or an object store.

A `Location` always holds a `UPath`: a local folder is a `PosixUPath` (which is also a
`pathlib.Path`); an object-store prefix (`s3://bucket/prefix`, `memory://...`) is a UPath
whose filesystem carries the storage options from the environment (`storage.upath`). With it
goes the setting that named it (`PURCHASES_SOURCE_DIR`, ...), so that an error of the store
becomes one sentence naming that setting (`describe`, `is_dir`).

Code that reads a location takes a `Location`, never `Path | UPath`. Where the local rules
differ from an object store's (symlinks resolved and kept inside the folder, `O_NOFOLLOW`
opens, `fstat` stamps), it asks `is_local` once and takes `local`, a plain `pathlib.Path`,
for its local code path; everything else goes through `path`. docs/decisions.md ("One
storage location type") says why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from upath import UPath

from assets_pkg.shared import storage


@dataclass(frozen=True)
class Location:
    """A folder (or a file) a setting names: a local one, or a prefix on an object store."""

    path: UPath
    """Always a UPath: `PosixUPath` for a local folder, the store's UPath otherwise."""
    setting: str = field(default="", compare=False)
    """The setting that names it (`PURCHASES_SOURCE_DIR`), for error sentences."""
    given: str = field(default="", compare=False)
    """The location as written in the setting (error sentences quote it); `str(path)` when
    empty."""

    @classmethod
    def of(cls, location: str | os.PathLike[str] | UPath, setting: str = "") -> Location:
        """The location `location` names: a plain path or a `file://`/`local://` URL is a
        local folder (`file:///data/src` is `/data/src`), any other URL an object store."""
        if isinstance(location, UPath):
            if not storage.is_local(location):
                return cls(location, setting, str(location))
            text = str(storage.local_path(location))
        else:
            text = os.fspath(location)
        if storage.is_local(text):
            return cls(UPath(storage.local_folder(text)), setting, text)
        return cls(storage.upath(text), setting, text)

    @property
    def is_local(self) -> bool:
        """Whether it lies on the local disk (the local rules apply: `local`)."""
        return storage.is_local(self.path)

    @property
    def local(self) -> Path:
        """The local path, as a plain `pathlib.Path`, for the local-only code paths;
        ValueError on an object store."""
        if not self.is_local:
            raise ValueError(f"{self} is on an object store, not a local folder")
        return storage.local_path(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def __truediv__(self, name: str) -> Location:
        """The entry `name` inside this folder, named by the same setting."""
        child = self.path / name
        return Location(child, self.setting, str(child))

    def __str__(self) -> str:
        return str(self.path)

    def describe(self, error: BaseException) -> str:
        """One sentence naming the setting (and the location as written in it) for an error
        of the object store."""
        where = self.given or str(self.path)
        return storage.describe_error(error, where, self.setting or "The location")

    def is_dir(self) -> bool:
        """Whether the folder is there. On an object store, an error of the store (refused
        credentials, an endpoint that does not answer) is a StorageError in one sentence
        naming the setting; a local error is raised as it is."""
        if self.is_local:
            return self.local.is_dir()
        try:
            return self.path.is_dir()
        except Exception as error:
            raise storage.StorageError(self.describe(error)) from None

    def exists(self) -> bool:
        return self.local.exists() if self.is_local else self.path.exists()

    def is_file(self) -> bool:
        return self.local.is_file() if self.is_local else self.path.is_file()
