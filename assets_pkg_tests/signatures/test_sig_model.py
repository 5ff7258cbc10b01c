"""The domain model: points are checked once, cheaply, and always end up as finite XYZPoints."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assets_pkg.signatures.model import NewXYZSignature, Origin, XYZPoint

ORIGIN = Origin(
    source="SOURCE_A", subset="Online/Genuine", source_path="p", content_sha256="0" * 64
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((XYZPoint(1.0, 2.0, 3.0),), (XYZPoint(1.0, 2.0, 3.0),)),
        ([(1, 2, 3)], (XYZPoint(1.0, 2.0, 3.0),)),
        ([[1.5, 2, 3], (4, 5, 6)], (XYZPoint(1.5, 2.0, 3.0), XYZPoint(4.0, 5.0, 6.0))),
    ],
)
def test_points_become_xyz_points_of_floats(given: object, expected: tuple[XYZPoint, ...]) -> None:
    points = NewXYZSignature.model_validate({"points": given, "origin": ORIGIN}).points
    assert points == expected
    assert all(type(p) is XYZPoint and all(type(v) is float for v in p) for p in points)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "a signature needs at least one point"),
        ([(1, 2)], "a point is three numbers (x, y, z), got (1, 2)"),
        ([("1", 2, 3)], "a point is three numbers (x, y, z), got ('1', 2, 3)"),
        ([(True, 2, 3)], "a point is three numbers (x, y, z), got (True, 2, 3)"),
        ([(1, 2, float("nan"))], "every coordinate must be a finite number"),
        ((XYZPoint(1.0, float("inf"), 3.0),), "every coordinate must be a finite number"),
        ("abc", "points must be a sequence of (x, y, z)"),
    ],
)
def test_bad_points_are_refused(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NewXYZSignature.model_validate({"points": given, "origin": ORIGIN})
    assert caught.value.errors()[0]["msg"] == f"Value error, {message}"
