"""Base class for secret values: redacted ``repr``, constant-time equality, no pickling.

PyNaCl-style: a secret is a type, not a bag of bytes, so it cannot end up in a log line, an audit
record, a dict key or a pickle by accident.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

__all__ = ["Secret"]


class Secret:
    """A secret byte string. Subclasses name what the secret is for.

    Warnings
    --------
    ``reveal()`` returns the raw bytes; call it only where the bytes go straight into a
    primitive (a KDF, a cipher, a share). Never log, audit or persist the result.
    """

    __slots__ = ("_value",)
    #: Expected length in bytes, or None for any length.
    length: int | None = None

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError(f"{type(self).__name__} takes bytes, got {type(value).__name__}")
        if self.length is not None and len(value) != self.length:
            raise ValueError(f"{type(self).__name__} must be {self.length} bytes, got {len(value)}")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """Return the raw secret bytes (see the class warning)."""
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Secret)
        return hmac.compare_digest(self._value, other._value)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be copied")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be copied")
