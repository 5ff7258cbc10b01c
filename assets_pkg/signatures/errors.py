"""The errors of the signature domain: every one a `SignatureServiceError`, its message one
sentence a user can act on."""

from __future__ import annotations


class SignatureServiceError(Exception):
    """Base of every error the signature service raises on purpose."""


class UnsupportedSignatureError(SignatureServiceError, TypeError):
    """An input that is neither a NewImageSignature nor a NewXYZSignature."""


class InconsistentRegistrationError(SignatureServiceError, ValueError):
    """Inputs that cannot belong together under one idempotence key."""


class AssetRegistrationError(SignatureServiceError):
    """An image could not be read or stored by the asset service."""

    def __init__(self, message: str, local_uri: str) -> None:
        super().__init__(message)
        self.local_uri = local_uri


class StoreError(SignatureServiceError):
    """The database refused or could not be reached; the message says which setting to check."""
