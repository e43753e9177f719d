"""Old keyword names that keep working, with a DeprecationWarning, after a rename.

Users' scripts call ``rscd.apply(..., substrt2=...)`` and ``rscd.dask.apply(sci=...)``;
the names became ``ystart`` (the datamodel's ``meta.subarray.ystart``) and ``data`` (as
in :func:`rscd.apply`). The decorator maps the old keyword to the new one, so each
function has one signature and one body.
"""
import functools
import warnings
from typing import Any, Callable, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """Accept each ``old=`` keyword of ``renames`` (old name -> new name) as the new one,
    with a DeprecationWarning; both at once is a TypeError."""
    def decorate(func: F) -> F:
        where = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{where}() got both {old}= and {new}=; "
                                        f"{old} is the deprecated name of {new}")
                    warnings.warn(f"{where}(): {old}= is deprecated, use {new}=",
                                  DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return cast(F, wrapper)
    return decorate
