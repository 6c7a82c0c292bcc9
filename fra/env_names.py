"""The FRA_* variable names the settings read, and those set that no setting reads.

pydantic-settings ignores a name it does not know (it must: other programs share the
environment), so `FRA_RISK__MAX_POSITON_USD=500` would leave the default in force without a
word. These names are compared against the real ones instead, and each stranger is named with
the closest real name.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, SecretStr

PREFIX = "FRA_"
NESTED = "__"
# Read by the test suite and the bench scripts, not by fra: set on a developer's machine.
NOT_SETTINGS = frozenset({"FRA_SHARED_DATA"})


class Unknown(NamedTuple):
    name: str
    source: str  # "environment" or the .env file's path
    closest: str | None


def setting_names(model: type[BaseModel] | None = None, prefix: str = PREFIX) -> dict[str, bool]:
    """Every FRA_* name the settings read (a group's own name too: it takes a JSON object),
    each with whether it holds a secret."""
    if model is None:
        from fra.settings import Settings

        model = Settings
    names: dict[str, bool] = {}
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        group = _model_in(field.annotation)
        names[name] = group is None and _is_secret(field.annotation)
        if group is not None:
            names.update(setting_names(group, name + NESTED))
    return names


def secret_names(names: Mapping[str, bool]) -> frozenset[str]:
    return frozenset(name for name, secret in names.items() if secret)


def masked_names(shown: Mapping[str, Any], plain: Mapping[str, Any]) -> frozenset[str]:
    """The FRA_* names whose value `fra config` shows masked (`shown`: settings.masked(),
    `plain`: the settings' model_dump): what holds a secret without being a SecretStr, such
    as notification URLs with their tokens. A group's own name (a JSON object) too, when it
    holds one."""
    found: set[str] = set()

    def walk(a: Any, b: Any, name: str) -> bool:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            hidden = [walk(a[k], b.get(k), f"{name}{NESTED}{k.upper()}") for k in a]
            if any(hidden):
                found.add(name)
            return any(hidden)
        if a != b:
            found.add(name)
            return True
        return False

    for key, value in shown.items():
        walk(value, plain.get(key), f"{PREFIX}{key.upper()}")
    return frozenset(found)


def unknown_names(
    environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")
) -> list[Unknown]:
    """FRA_* names set in the environment or the .env file that no setting reads."""
    environ = os.environ if environ is None else environ
    known = setting_names()
    found: list[Unknown] = []
    candidates = [(k, "environment") for k in environ]
    if env_file.is_file():
        candidates += [(k, str(env_file)) for k in _env_file_names(env_file)]
    seen: set[str] = set()
    for raw, source in candidates:
        # pydantic-settings matches names case-insensitively, so fra_risk__leverage counts.
        name = raw.upper()
        if not name.startswith(PREFIX) or name in known or name in NOT_SETTINGS or name in seen:
            continue
        seen.add(name)
        found.append(Unknown(raw, source, closest(name, known)))
    return found


def value_sources(
    flags: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: Path = Path(".env"),
) -> dict[str, str]:
    """Where each setting's value comes from: `flag (--venue)`, `environment`, `.env` or
    `default`, for every FRA_* name that holds a value (not a group's own name). `flags`: the
    FRA_* names the command line set, each with its flag.

    The order is pydantic-settings': flags over the environment over the .env file over the
    defaults. Sources merge key by key, so that FRA_RISK='{"leverage": 5}' in the environment
    and FRA_RISK__MAX_POSITIONS in .env both apply: each value is looked up on its own, by its
    own name or as a key of its group's JSON object, in each source in turn.
    """
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, str | None]]] = [
        ("environment", {k.upper(): v for k, v in environ.items()})
    ]
    if env_file.is_file():
        layers.append((".env", {k.upper(): v for k, v in _env_file_values(env_file).items()}))
    out: dict[str, str] = {}
    for path in _leaves():
        name = PREFIX + NESTED.join(path).upper()
        if flags and name in flags:
            out[name] = f"flag ({flags[name]})"
            continue
        out[name] = next((src for src, values in layers if _sets(values, path)), "default")
    return out


def _leaves(model: type[BaseModel] | None = None) -> list[tuple[str, ...]]:
    """The field path of every setting that holds a value: ("risk", "leverage")."""
    if model is None:
        from fra.settings import Settings

        model = Settings
    out: list[tuple[str, ...]] = []
    for field_name, field in model.model_fields.items():
        group = _model_in(field.annotation)
        if group is None:
            out.append((field_name,))
        else:
            out += [(field_name, *rest) for rest in _leaves(group)]
    return out


def _sets(values: Mapping[str, str | None], path: tuple[str, ...]) -> bool:
    """Whether one source (names upper-cased) sets the value at `path`; a bare name in .env
    (no `=`) sets it too, to nothing, as pydantic-settings reads it."""
    if PREFIX + NESTED.join(path).upper() in values:
        return True
    for cut in range(1, len(path)):
        raw = values.get(PREFIX + NESTED.join(path[:cut]).upper())
        if raw is None:
            continue
        try:
            data: Any = json.loads(raw)
        except ValueError:
            continue  # not JSON: reading the settings refuses it with its own message
        for key in path[cut:]:
            # pydantic-settings matches a group's keys case-insensitively, as it does names.
            keys = {str(k).lower(): k for k in data} if isinstance(data, dict) else {}
            if key not in keys:
                break
            data = data[keys[key]]
        else:
            return True
    return False


def closest(name: str, known: Mapping[str, bool]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return match[0] if match else None


def describe(unknown: Unknown) -> str:
    """One line for stderr and `fra config`."""
    where = "in the environment" if unknown.source == "environment" else f"in {unknown.source}"
    hint = f"did you mean {unknown.closest}?" if unknown.closest else "see `fra config`"
    return f"{unknown.name} ({where}) is not a setting fra reads and is ignored; {hint}"


def _env_file_names(path: Path) -> list[str]:
    return [name for name in _env_file_values(path) if name]


def _env_file_values(path: Path) -> dict[str, str | None]:
    from dotenv import dotenv_values

    try:
        return dict(dotenv_values(path))
    except (OSError, UnicodeDecodeError):
        return {}  # reading it for settings fails with its own message


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in typing.get_args(annotation))
