"""How a run says what went wrong: which exceptions are bad input (one line, no
traceback) and the one line of an exception; shared by the command, the batch and the
scheduler connection."""


def expected_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input (one line, no traceback), not a bug."""
    from ._core import RSCDError
    from .crds import CRDSError
    from .fits import RampFileError
    from .reference import ReferenceFileError
    return (RampFileError, ReferenceFileError, RSCDError, CRDSError, OSError, ValueError,
            TypeError, MemoryError)


def error_text(exc: BaseException) -> str:
    """One line for an exception: ``file: strerror`` for OSError, else its message."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
