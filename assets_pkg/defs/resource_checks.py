"""The settings' rules applied to the resources' fields, wherever a value comes from.

A resource's field can be set from the environment (through `Settings`), from run config
(`-c`, the launchpad, GraphQL) or in a test. Each field has a pydantic validator that applies
the same rule as `assets_pkg.shared.settings`, so a value that the environment would refuse
is refused from run config too, in the same sentence, naming the field and its variable.

The error is a `SettingError`: a `DagsterError`, which pydantic does not wrap in its
multi-line `ValidationError` (it wraps only `ValueError` and `AssertionError`) and Dagster
does not wrap in "Error executing resource_fn" (it passes its own errors through), so the
failed run shows the sentence itself. It is also a `ConfigurationError`'s sibling for the
code that loads the definitions: both end in one sentence there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
from pydantic import field_validator

from assets_pkg.shared.settings import ConfigurationError, check_location

T = TypeVar("T")
R = TypeVar("R")


class SettingError(dg.DagsterError):
    """A resource's field breaks its setting's rule; the message is one sentence naming it."""


def validated(rule: Callable[[T, str], R], value: T, setting: str) -> R:
    """`rule(value, setting)`, with its ConfigurationError raised as a SettingError."""
    try:
        return rule(value, setting)
    except ConfigurationError as error:
        raise SettingError(str(error)) from None


def location_rule(field: str, setting: str) -> Any:
    """The validator of a resource's folder field: `check_location`, naming `setting` (the
    variable and the field, `PURCHASES_SOURCE_DIR (purchases_source.source_dir)`). Assigned
    in the class body: `_source_dir_rule = location_rule("source_dir", ...)`."""

    def rule(cls: type, value: str) -> str:
        return validated(check_location, value, setting)

    return field_validator(field)(classmethod(rule))
