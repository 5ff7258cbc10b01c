"""The settings' rules applied to the resources' fields, wherever a value comes from.

A resource's field can be set from the environment (through `Settings`), from run config
(`-c`, the launchpad, GraphQL) or in a test. Each field has a pydantic validator that applies
the same rule as `assets_pkg.shared.settings`, so a value that the environment would refuse
is refused from run config too, in the same sentence, naming the field and its variable.

A field fed from the environment holds `dg.EnvVar("NAME")` in the definitions (`env_or`),
so the web UI and every run's config show the variable's name, never its value (a password
in SIGNATURES_DB_URL, in a broker URL). Dagster reads the variable when a run starts and
builds the resource again from the value it read: the validators (`field_rule`) let the
`EnvVar` placeholder pass when the definitions are built, and check the value then, so a
bad value fails the run before any step, in one sentence naming the variable.

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
from pydantic import ValidatorFunctionWrapHandler, field_validator

from assets_pkg.shared.settings import ConfigurationError, Settings, check_location

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


_INT_ENV_VAR = type(dg.EnvVar.int("UNSET"))
"""Dagster's `IntEnvVar` (what `dg.EnvVar.int` returns), which `dagster` does not export."""


def is_env_var(value: object) -> bool:
    """`dg.EnvVar("NAME")` or `dg.EnvVar.int("NAME")`: a placeholder whose value Dagster
    reads when a run starts."""
    return isinstance(value, dg.EnvVar | _INT_ENV_VAR)


def field_rule(field: str, check: Callable[[Any], Any]) -> Any:
    """A validator of `field` that applies `check` to the field's value once pydantic has
    typed it, and lets a `dg.EnvVar` placeholder through: Dagster builds the resource again
    from the variable's value when a run starts, and `check` runs on that value then.
    Assigned in the class body: `_source_dir_rule = field_rule("source_dir", ...)`."""

    def rule(cls: type, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        typed = handler(value)
        return typed if is_env_var(value) else check(typed)

    return field_validator(field, mode="wrap")(classmethod(rule))


def location_rule(field: str, setting: str) -> Any:
    """The validator of a resource's folder field: `check_location`, naming `setting` (the
    variable and the field, `PURCHASES_SOURCE_DIR (purchases_source.source_dir)`). Assigned
    in the class body: `_source_dir_rule = location_rule("source_dir", ...)`."""
    return field_rule(field, lambda value: validated(check_location, value, setting))


def env_or(settings: Settings, variable: str, value: T) -> T:
    """`dg.EnvVar(variable)` when the variable was set in the environment that `settings`
    were read from (`Settings.from_env`), so that the definitions, the web UI and every
    run's config name the variable and Dagster reads its value when a run starts; `value`
    itself otherwise (a default computed when the code location loaded, or a test's own
    `Settings(...)`), which holds no secret. An int field gets `dg.EnvVar.int`."""
    if variable not in settings.environment:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return dg.EnvVar.int(variable)  # type: ignore[return-value]
    return dg.EnvVar(variable)  # type: ignore[return-value]
