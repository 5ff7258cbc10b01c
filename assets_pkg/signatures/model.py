"""The signature domain: signees, their signatures, and the inputs that register them.

The initial design's shape (Signee, ImageSignature, XYZSignature, XYZPoint, NewImageSignature,
NewXYZSignature), modernised to pydantic 2 and python-ulid; `docs/design-changes.md` lists every
change. Pure data: nothing here touches files, databases or Dagster.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator
from ulid import ULID


def new_id() -> str:
    """A fresh ULID as its 26-character Crockford base32 string (sortable by creation time)."""
    return str(ULID())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_ulid(value: str) -> str:
    ULID.from_str(value)  # raises ValueError on anything that is not a ULID
    return value


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


UlidStr = Annotated[str, AfterValidator(_check_ulid)]
"""A ULID string: what the warehouse uses for signee and signature ids."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are refused."""

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

SignatureKind = Literal["image", "xyz"]


class XYZPoint(NamedTuple):
    """One pen sample. A named tuple rather than a model: signatures hold hundreds of them."""

    x: float
    y: float
    z: float


def _check_points(value: object) -> tuple[XYZPoint, ...]:
    """Points as XYZPoints of finite floats. Hundreds of thousands of points pass through here
    on a large run, so a tuple of XYZPoints (what the HWR parser makes) is only checked for
    finiteness, at C speed, and anything else is converted point by point."""
    if not isinstance(value, list | tuple):
        raise ValueError("points must be a sequence of (x, y, z)")
    if isinstance(value, tuple) and all(type(p) is XYZPoint for p in value):
        points: tuple[XYZPoint, ...] = value
    else:
        points = tuple(_to_point(p) for p in value)
    if not points:
        raise ValueError("a signature needs at least one point")
    if not all(map(math.isfinite, itertools.chain.from_iterable(points))):
        raise ValueError("every coordinate must be a finite number")
    return points


def _to_point(value: object) -> XYZPoint:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError(f"a point is three numbers (x, y, z), got {value!r}")
    x, y, z = value
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y, z)):
        raise ValueError(f"a point is three numbers (x, y, z), got {value!r}")
    return XYZPoint(float(x), float(y), float(z))


Points = Annotated[
    tuple[XYZPoint, ...],
    PlainValidator(_check_points, json_schema_input_type=list[tuple[float, float, float]]),
]
"""An online signature's pen samples, in order: at least one, every coordinate finite."""


class SigneeKey(BaseModel):
    """Who a signee is in the sources: one writer within one source directory (decision 1).

    SOURCE_A: (`SOURCE_A`, `Online/Genuine`, `001`). SOURCE_B has no writer identity, so each
    signature is its own signee: (`SOURCE_B`, ``, <signature uuid>).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    directory: str
    writer_id: str = Field(min_length=1)

    def label(self) -> str:
        return "/".join(part for part in (self.source, self.directory, self.writer_id) if part)


class Origin(BaseModel):
    """Where a signature's bytes came from; (source, source_path, content_sha256) is its key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    subset: str
    source_path: str = Field(min_length=1)
    content_sha256: Sha256Hex


class Reference(BaseModel):
    """What a forgery imitates, as the source names it: a signee, and maybe one signature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signee: SigneeKey
    signature_path: str | None = None
    """The imitated signature's `source_path` (SOURCE_B names the parent signature)."""


class _SignatureBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: UlidStr = Field(default_factory=new_id)
    signee_id: UlidStr
    created: UtcDatetime = Field(default_factory=utc_now)
    metadata: dict[str, str] = Field(default_factory=dict)
    origin: Origin
    forgery_of: Reference | None = None
    reference_signee_id: UlidStr | None = None
    reference_signature_id: UlidStr | None = None
    supersedes: UlidStr | None = None
    """The signature this one replaces because the file's bytes changed (decision 6)."""

    @property
    def is_forgery(self) -> bool:
        return self.forgery_of is not None


class ImageSignature(_SignatureBase):
    kind: Literal["image"] = "image"
    asset_id: str = Field(min_length=1)


class XYZSignature(_SignatureBase):
    kind: Literal["xyz"] = "xyz"
    points: Points


Signature = Annotated[ImageSignature | XYZSignature, Field(discriminator="kind")]


class Signee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: UlidStr = Field(default_factory=new_id)
    created: UtcDatetime = Field(default_factory=utc_now)
    key: SigneeKey
    signatures: list[Signature] = Field(default_factory=list)

    def new_image_signature(
        self,
        asset_id: str,
        origin: Origin,
        metadata: dict[str, str] | None = None,
        links: Links | None = None,
    ) -> ImageSignature:
        """A new image signature owned by this signee, appended to `signatures`."""
        signature = ImageSignature(
            signee_id=self.id,
            asset_id=asset_id,
            origin=origin,
            metadata=metadata or {},
            **(links or Links()).model_dump(),
        )
        self.signatures.append(signature)
        return signature

    def new_xyz_signature(
        self,
        points: tuple[XYZPoint, ...],
        origin: Origin,
        metadata: dict[str, str] | None = None,
        links: Links | None = None,
    ) -> XYZSignature:
        """A new online signature owned by this signee, appended to `signatures`."""
        signature = XYZSignature(
            signee_id=self.id,
            points=points,
            origin=origin,
            metadata=metadata or {},
            **(links or Links()).model_dump(),
        )
        self.signatures.append(signature)
        return signature


class Links(BaseModel):
    """A new signature's links: what it imitates (resolved ids) and what it supersedes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    forgery_of: Reference | None = None
    reference_signee_id: UlidStr | None = None
    reference_signature_id: UlidStr | None = None
    supersedes: UlidStr | None = None


class _NewSignatureBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    metadata: dict[str, str] = Field(default_factory=dict)
    origin: Origin
    forgery_of: Reference | None = None


class NewImageSignature(_NewSignatureBase):
    """An image to register: `local_uri` is a readable local path (or `file://` URI).

    `content`, when given, is the image's bytes as the source reader read and hashed them: the
    asset service stores exactly these bytes and does not open `local_uri` again.
    """

    kind: Literal["image"] = "image"
    local_uri: str = Field(min_length=1)
    content: bytes | None = Field(default=None, repr=False, exclude=True)


class NewXYZSignature(_NewSignatureBase):
    kind: Literal["xyz"] = "xyz"
    points: Points


NewSignature = NewImageSignature | NewXYZSignature
