"""The schema entry type: one :class:`Option` per key of a config file, one :class:`Table` per file.

An option is declared once, as an :class:`Option` in its file's :class:`Table`: its key, its
TOML type, its default, its check and its comment. Everything else is derived from the table:

* the loader (:mod:`fedseal.config.loading`) takes the allowed keys, their TOML types, the
  defaults it fills in, the keys that hold paths and the keys that must be given;
* the config dataclass takes its field defaults (``rounds: int = SERVER.default("rounds")``)
  and validates itself with :meth:`Table.validate` (each option's own check, in file order;
  the dataclass adds the checks that relate several options);
* ``fedseal provision`` (:mod:`fedseal.deploy.layout`) writes the options in table order with
  their defaults (:meth:`Table.document`) and comments (:meth:`Table.comments`).

A table option (``[tls]``, ``[dp]``, ``[strategy]``) carries its own :class:`Table` and the
dataclass it is built into. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "BOOL",
    "INT",
    "NUMBER",
    "REQUIRED",
    "STR",
    "STRINGS",
    "TABLE",
    "Check",
    "Kind",
    "Option",
    "Table",
]

#: A TOML type, as :func:`fedseal.config.loading.read_table` checks it.
Kind = Literal["str", "int", "number", "bool", "strings", "table"]
STR: Final = "str"
INT: Final = "int"
NUMBER: Final = "number"  # an integer or a float
BOOL: Final = "bool"
STRINGS: Final = "strings"  # a list of strings (a tuple in the dataclass)
TABLE: Final = "table"

#: ``check(name, value)`` returns the value normalised or raises ``ConfigError`` naming ``name``.
Check = Callable[[str, Any], Any]


class _Required(Enum):
    REQUIRED = "required"

    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of an option a file must give (there is no sensible value to fill in).
REQUIRED: Final = _Required.REQUIRED

#: The default of a table option: an empty table, whose own options' defaults then apply.
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Option:
    """One key of a config file.

    Parameters
    ----------
    key : str
        The TOML key, and the name of the dataclass field it fills.
    kind : Kind
        Its TOML type.
    default : object
        The value a file that leaves the key out gets (filled in by the loader, written by
        ``fedseal provision``); None: unset (the dataclass decides, for example from the
        roster); :data:`REQUIRED`: the file must give it. A table option's default is always
        an empty table, so that its own keys' defaults apply.
    check : Check, optional
        Validates and normalises the value in the dataclass; None for options checked
        together with others (in the dataclass's ``__post_init__``) or by the object a table
        is built into.
    comment : str, optional
        Written above the key by ``fedseal provision`` (above the header of a table).
    path : bool
        A path, resolved against the config file's folder (``~`` expands).
    write : bool
        Whether ``fedseal provision`` writes the default into a new file. False for options
        only an operator sets.
    formerly : tuple of str
        Earlier names of the key, refused with a pointer to this one.
    table : Table, optional
        For a table option (``kind = TABLE``): the schema of its keys.
    build : callable, optional
        For a table option: the dataclass its keys are passed to.
    """

    key: str
    kind: Kind
    default: Any = REQUIRED
    check: Check | None = None
    comment: str | None = None
    path: bool = False
    write: bool = True
    formerly: tuple[str, ...] = ()
    table: Table | None = None
    build: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if (self.table is None) != (self.build is None) or (
            self.table is not None and self.kind != TABLE
        ):
            raise ValueError(f"option {self.key}: a table option needs both table and build")
        if self.table is not None:
            object.__setattr__(self, "default", _EMPTY)


@dataclass(frozen=True)
class Table:
    """The options of one config file or TOML table, in the order ``fedseal provision`` writes.

    Parameters
    ----------
    options : tuple of Option
        Keys are unique.
    prefix : str
        Put before a key in the messages of its check (``"tls."`` gives ``tls.cert must be a
        path``).
    """

    options: tuple[Option, ...]
    prefix: str = ""
    _by_key: Mapping[str, Option] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key = {option.key: option for option in self.options}
        if len(by_key) != len(self.options):
            raise ValueError("a table lists a key twice")
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))

    def __getitem__(self, key: str) -> Option:
        return self._by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def keys(self) -> tuple[str, ...]:
        """Every key, in file order."""
        return tuple(self._by_key)

    def default(self, key: str) -> Any:
        """The default of ``key``: what its dataclass field defaults to."""
        value = self._by_key[key].default
        if value is REQUIRED:
            raise KeyError(f"{key} has no default")
        return value

    def kinds(self) -> dict[str, Kind]:
        """Key -> TOML type, for the loader."""
        return {option.key: option.kind for option in self.options}

    def fill_ins(self) -> dict[str, Any]:
        """The values the loader gives keys a file leaves out (neither unset nor required)."""
        return {
            option.key: option.default
            for option in self.options
            if option.default is not None and option.default is not REQUIRED
        }

    def required(self) -> tuple[str, ...]:
        """The keys a file must give."""
        return tuple(option.key for option in self.options if option.default is REQUIRED)

    def paths(self) -> frozenset[str]:
        """The keys that hold paths."""
        return frozenset(option.key for option in self.options if option.path)

    def comments(self, prefix: str = "") -> dict[str, str]:
        """Dotted key -> comment, for :func:`fedseal.deploy.files.dumps_toml`; tables included."""
        out: dict[str, str] = {}
        for option in self.options:
            if option.comment is not None:
                out[prefix + option.key] = option.comment
            if option.table is not None:
                out |= option.table.comments(f"{prefix}{option.key}.")
        return out

    def document(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """What ``fedseal provision`` writes: ``values``, and every written default, in order.

        A table option without a value is written as its table's own document.
        """
        doc: dict[str, Any] = {}
        for option in self.options:
            if option.key in values:
                doc[option.key] = values[option.key]
            elif option.table is not None and option.write:
                doc[option.key] = option.table.document({})
            elif option.write and option.default is not None and option.default is not REQUIRED:
                doc[option.key] = option.default
        return doc

    def validate(self, config: object) -> None:
        """Run every option's check on the field of ``config`` it names; store the result.

        An option whose default is None is not checked when its value is None.
        """
        for option in self.options:
            if option.check is None:
                continue
            value = getattr(config, option.key)
            if value is None and option.default is None:
                continue
            object.__setattr__(config, option.key, option.check(self.prefix + option.key, value))
