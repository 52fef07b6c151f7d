"""Store errors: permanent ones (StoreError) and the ones that pass (StoreUnavailableError), for retrying."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class StoreError(RuntimeError):
    """The database cannot be reached or used; the message says which URL setting to check."""


class StoreUnavailableError(StoreError):
    """A store fault that passes (unreachable, locked, a serialization failure, a dropped connection):
    the same call is worth retrying after a wait, so a job is never failed for good because of it."""


# SQLSTATE classes and codes that name passing faults: connection errors (08), serialization failure,
# deadlock, the server shutting down or starting (57P0x), too many connections.
TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "57P01", "57P02", "57P03", "53300")
TRANSIENT_WORDS = (
    "database is locked", "database is busy", "connection refused", "could not connect", "server closed the connection",
    "connection is closed", "terminating connection", "connection timed out", "the database system is starting up",
    "ssl syscall error", "consuming input failed", "could not serialize access", "deadlock detected",
)


def _sqlstate(error: DBAPIError) -> str:
    original = error.orig
    return str(getattr(original, "sqlstate", None) or getattr(original, "pgcode", None) or "")


def is_transient(error: BaseException) -> bool:
    """True for database errors that a retry after a wait can get past."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    state = _sqlstate(error)
    if state and state.startswith(TRANSIENT_SQLSTATES):
        return True
    return isinstance(error, OperationalError) and any(word in str(error.orig).lower() for word in TRANSIENT_WORDS)


def unavailable(error: BaseException, url: str) -> StoreUnavailableError:
    first_line = str(getattr(error, "orig", error)).strip().splitlines()[0:1]
    reason = first_line[0] if first_line else type(error).__name__
    return StoreUnavailableError(f"The store at RECAP_STORE_URL ({safe_url(url)}) is unavailable right now: {reason}")


def safe_url(url: str) -> str:
    """The URL without a password, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url
