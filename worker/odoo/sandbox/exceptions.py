"""The exception classes a real Odoo 18 raises from its external API.

The XML-RPC layer of Odoo sorts exceptions into a few families: business errors
(``UserError`` and its ``ValidationError`` subclass), missing records, access
errors, wrong credentials, and "anything else". Each family is encoded
differently on the wire (see :mod:`.protocol`), so the sandbox raises the same
families with the same texts.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """A business rule refused the call; never worth retrying."""


class ValidationError(UserError):
    """A constraint failed; encoded exactly like a ``UserError``."""


class RedirectWarning(UserError):
    """A business error that would offer a button in the web client."""


class MissingError(UserError):
    """The call touched a record that does not exist (any more)."""


class AccessError(UserError):
    """The user lacks the access right or group the operation needs."""


class AccessDenied(UserError):
    """Wrong database user id or password."""

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class SerializationFailure(Exception):
    """PostgreSQL's SQLSTATE 40001, as Odoo reports it after its own retries.

    The class pretends to live in ``psycopg2.errors`` so that the traceback sent
    to the client ends the way a real server's does.
    """

    MESSAGE = "could not serialize access due to concurrent update\n"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


SerializationFailure.__module__ = "psycopg2.errors"


class OperationalError(Exception):
    """The connection to the database failed (for instance an unknown name)."""


OperationalError.__module__ = "psycopg2"


def missing_error(model: str, ids: Iterable[int], uid: int) -> MissingError:
    return MissingError(
        "Record does not exist or has been deleted.\n"
        f"(Record: {model}{tuple(ids)!r}, User: {uid})"
    )


def not_null_error(
    model_description: str, model: str, field_string: str, field: str
) -> ValidationError:
    """The text Odoo builds from PostgreSQL's NOT NULL violation."""
    return ValidationError(
        "The operation cannot be completed:\n"
        "- Create/update: a mandatory field is not set.\n"
        "- Delete: another model requires the record being deleted. "
        "If possible, archive it instead.\n\n"
        f"Model: {model_description} ({model})\n"
        f"Field: {field_string} ({field})\n"
    )


def acl_error(model_description: str, model: str, groups: list[str]) -> AccessError:
    """The text of an ``ir.model.access`` refusal."""
    group_lines = "\n".join(f"\t- {group}" for group in groups)
    return AccessError(
        f"You are not allowed to access '{model_description}' ({model}) records.\n\n"
        f"This operation is allowed for the following groups:\n{group_lines}\n\n"
        "Contact your administrator to request access if necessary."
    )
