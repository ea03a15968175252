"""``fedseal new NAME --template torch|sklearn``: a new silo-app project, ready to simulate.

The project folder holds ``app.py`` (a copy of ``examples/torch_digits/app.py`` or
``examples/sklearn_cancer/app.py``; its ``load_partition(context)`` is where a site plugs in
its own data), a ``pyproject.toml`` and a ``README.md`` with the commands to simulate and to
deploy. Imports only the standard library.
"""

from __future__ import annotations

import keyword
from importlib import resources
from pathlib import Path

from fedseal.errors import ConfigError

__all__ = ["TEMPLATES", "new_project"]

#: Template name -> (example it copies, extra the project needs, one-line description).
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "torch": ("examples/torch_digits", "fedseal[dp]", "a PyTorch CNN on 8x8 digits, DP-SGD ready"),
    "sklearn": ("examples/sklearn_cancer", "fedseal", "scikit-learn logistic regression"),
}

_PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
description = "A fedseal silo app ({description})"
requires-python = ">=3.11"
dependencies = ["{requirement}"]
{note}"""

_TORCH_NOTE = """\
# DP-SGD needs torch and Opacus: pip install 'fedseal[dp]'
"""

_README = """\
# {name}

A fedseal silo app ({description}), made by `fedseal new {name} --template {template}` from
`{example}` of the fedseal repository.

## Install

```sh
pip install '{requirement}'
```

## Run in simulation

From this folder (the app is found as `app:make_app` from the current folder):

```sh
fedseal simulate --app app:make_app --silos 5{dp_hint}
```

Each simulated silo gets its share of the bundled data set through `load_partition(context)`
in `app.py` (`context.settings` holds `silo_index` and `silos`).

## Use your own data

Replace the body of `load_partition(context)` in `app.py` with code that reads this site's
records; nothing else needs to change.

## Deploy

With a provisioned `silo.toml` (see `fedseal provision`), run from this folder:

```sh
fedseal client --config silo.toml --app app:make_app
```
"""


def new_project(name: str, template: str, parent: Path) -> Path:
    """Write the project ``parent / name`` from ``template`` and return its folder.

    Parameters
    ----------
    name : str
        The project's name; must be a valid Python package name (``my_silo_app``).
    template : str
        ``"torch"`` or ``"sklearn"`` (:data:`TEMPLATES`).
    parent : Path
        The folder to create the project in (created if missing).

    Returns
    -------
    Path
        The new project folder, holding ``app.py``, ``pyproject.toml`` and ``README.md``.

    Raises
    ------
    ConfigError
        If ``name`` is not a valid Python package name, ``template`` is unknown, or the
        project folder exists and is not empty.
    """
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ConfigError(
            f"{name!r} is not a valid Python package name: use letters, digits and underscores, "
            "not starting with a digit (e.g. my_silo_app)"
        )
    if template not in TEMPLATES:
        raise ConfigError(f"unknown template {template!r}: choose one of {', '.join(TEMPLATES)}")
    folder = parent / name
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} already exists and is not empty: choose another NAME or --dir")
    example, requirement, description = TEMPLATES[template]
    app = resources.files(__package__).joinpath("templates", template, "app.py.tmpl")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(app.read_text(encoding="utf-8"), encoding="utf-8")
    values = {
        "name": name, "template": template, "example": example, "requirement": requirement,
        "description": description, "note": _TORCH_NOTE if template == "torch" else "",
        "dp_hint": "  # add --dp for DP-SGD" if template == "torch" else "",
    }  # fmt: skip
    (folder / "pyproject.toml").write_text(_PYPROJECT.format(**values), encoding="utf-8")
    (folder / "README.md").write_text(_README.format(**values), encoding="utf-8")
    return folder
