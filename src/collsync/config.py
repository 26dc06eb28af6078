"""The TOML config: pydantic models, ``${VAR}`` expansion, and errors that name the key.

Secrets (the store API key, the Akinon password and token) may only be written as environment
references such as ``"${STORE_API_KEY}"``; a literal secret in the file is refused. Relative paths
are resolved against the config file's folder, so a config works from any working directory.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from collsync.errors import ConfigError
from collsync.values import Status

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_KEYS = {("source", "api_key"), ("target", "password"), ("target", "token")}

Seconds = Annotated[float, Field(gt=0, le=3600)]
Duration = Annotated[timedelta, BeforeValidator(lambda value: parse_duration(value))]
"""A config duration: ``30s``, ``15m``, ``24h``, ``7d``."""
PerSecond = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _day_or_moment(value: Any) -> date:
    if isinstance(value, date):  # TOML gives a date, or a datetime (a date too)
        return value
    raise ValueError(
        f"expected a TOML date (2024-01-31) or date-time (2024-01-31T12:00:00), got {value!r}"
    )


CreatedOn = Annotated[date, PlainValidator(_day_or_moment)]


class SourceFilters(_Section):
    """Same names and types as the store's RPC filters."""

    id: list[str] = Field(default_factory=list)
    name: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list)
    slug: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list)
    createdon_min: CreatedOn | None = None
    """Inclusive; a date is the whole of that day, a date and time is taken as given."""
    createdon_max: CreatedOn | None = None

    @field_validator("id")
    @classmethod
    def _guids(cls, ids: list[str]) -> list[str]:
        import uuid

        for value in ids:
            try:
                uuid.UUID(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a GUID") from None
        return ids


class SourceConfig(_Section):
    url: AnyHttpUrl
    api_key: SecretStr
    page_size: int = Field(1000, ge=1, le=1000)
    timeout: Seconds = 30.0
    rate_limit: PerSecond | None = None
    """Requests per second sent to the store (none: no limit)."""
    concurrency: int = Field(4, ge=1, le=64)
    filters: SourceFilters = Field(default_factory=SourceFilters)


class ItemsConfig(_Section):
    from_: Literal["store", "file", "none"] = Field("store", alias="from")
    collection_field: str = Field("collections", min_length=1)
    path: Path | None = None
    """``from = "file"``: CSV with columns collection (id or slug), sku, note."""

    @model_validator(mode="after")
    def _path_for_file(self) -> ItemsConfig:
        if self.from_ == "file" and self.path is None:
            raise ValueError('path is required when from = "file"')
        return self


class ProductsConfig(_Section):
    resolve: Literal["sku-map", "identity"] = "sku-map"
    path: Path | None = None
    """``resolve = "sku-map"``: CSV with columns sku, product_pk."""


class TargetConfig(_Section):
    url: AnyHttpUrl
    email: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    """Alternative to email/password: sent as ``Authorization: Token <token>``."""
    session_cookie: str = Field("osessionid", min_length=1)
    page_size: int = Field(100, ge=1, le=1000)
    timeout: Seconds = 30.0
    rate_limit: PerSecond | None = None
    """Requests per second sent to Akinon (none: no limit)."""

    @model_validator(mode="after")
    def _credentials(self) -> TargetConfig:
        if self.token is None and (not self.email or self.password is None):
            raise ValueError("set email and password, or token")
        return self


class StatusRule(_Section):
    """First matching rule wins; globs as in ``fnmatch`` (``sale-*``)."""

    slug: str | None = None
    name: str | None = None
    status: Status

    @model_validator(mode="after")
    def _one_pattern(self) -> StatusRule:
        if (self.slug is None) == (self.name is None):
            raise ValueError("a rule matches exactly one of slug or name")
        return self

    def matches(self, slug: str, name: str) -> bool:
        if self.slug is not None:
            return fnmatch.fnmatchcase(slug, self.slug)
        return self.name is not None and fnmatch.fnmatchcase(name, self.name)


class TransformConfig(_Section):
    status: Status = "public"
    name_template: str = "{name}"
    note_template: str = "{note}"
    rules: list[StatusRule] = Field(default_factory=list)


class StateConfig(_Section):
    path: Path = Path("state/collsync.db")
    lock_stale_after: Seconds | None = None
    """No longer used (the run lock is the kernel's, freed when its holder dies); accepted so
    that configs written for earlier versions still load."""


class RunConfig(_Section):
    concurrency: int = Field(8, ge=1, le=256)
    max_attempts: int = Field(5, ge=1, le=50)
    snapshot_max_age: Duration = timedelta(hours=1)
    """A resumed run goes on with an unfinished store read only if its pages are this young."""


class SyncConfig(_Section):
    reconcile_every: Duration = timedelta(hours=24)
    overlap: Duration = timedelta(hours=1)
    retry_backoff: Duration = timedelta(minutes=5)
    """First wait before a failed record is tried again; it doubles with each failure."""
    retry_limit: int = Field(5, ge=1, le=100)
    """Failures after which a record is parked until `collsync failures --retry`."""
    max_deletes: str = "10"
    """`--mirror` default guard: a count, or a percentage of the mapped collections ("5%")."""
    summary_file: Path | None = None
    metrics_file: Path | None = None

    @field_validator("max_deletes")
    @classmethod
    def _max_deletes(cls, value: str) -> str:
        parse_max_deletes(value, 100)
        return value


class Config(_Section):
    source: SourceConfig
    items: ItemsConfig = Field(default_factory=ItemsConfig)
    products: ProductsConfig = Field(default_factory=ProductsConfig)
    target: TargetConfig
    transform: TransformConfig = Field(default_factory=TransformConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)

    @model_validator(mode="after")
    def _sku_map_path(self) -> Config:
        # Here, not in ProductsConfig: a config without [products] gets its defaults, and an
        # error raised while making them would name no key.
        if self.products.resolve == "sku-map" and self.products.path is None:
            raise ValueError(
                'products.path: required when products.resolve = "sku-map" (the default); '
                'or set resolve = "identity"'
            )
        return self


def parse_max_deletes(text: str, mapped: int) -> int:
    """``"25"`` -> 25; ``"5%"`` -> 5% of ``mapped`` (rounded up)."""
    value = text.strip()
    try:
        if value.endswith("%"):
            percent = float(value[:-1])
            if not 0 <= percent <= 100:
                raise ValueError
            return int(-(-percent * mapped // 100))
        count = int(value)
        if count < 0:
            raise ValueError
        return count
    except ValueError:
        raise ValueError(f"{text!r} is not a count (25) or a percentage (5%)") from None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(value: Any) -> Any:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"7d"`` -> a ``timedelta`` (anything else is left to
    pydantic, which refuses it by name)."""
    if not isinstance(value, str):
        return value
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration like 30s, 15m, 24h or 7d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
    return timedelta(**{unit: float(match[1])})


def format_duration(value: timedelta) -> str:
    """A duration as it is written in the config: ``24h``, ``90s``."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _expand(
    value: Any, path: tuple[str, ...], env: dict[str, str], unset: list[str], offline: bool
) -> Any:
    """``${VAR}`` replaced from ``env``; what is missing goes to ``unset`` (``offline``: left as
    written, for commands that read the state file only)."""
    if isinstance(value, dict):
        return {k: _expand(v, (*path, k), env, unset, offline) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, str(i)), env, unset, offline) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    key = ".".join(path)
    if path[-2:] in SECRET_KEYS and not _ENV_REF.fullmatch(value.strip()):
        raise ConfigError(
            f"{key}: secrets are read from the environment only; "
            f'write it as "${{VARIABLE}}" and export VARIABLE'
        )

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if offline and not env.get(name):
            return match[0]
        if name not in env:
            unset.append(f"{key}: environment variable {name} is not set")
        elif not env[name] and path[-2:] in SECRET_KEYS:
            unset.append(f"{key}: environment variable {name} is set but empty")
        return env.get(name, "")

    return _ENV_REF.sub(substitute, value)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for section, key in (
        ("items", "path"),
        ("products", "path"),
        ("state", "path"),
        ("sync", "summary_file"),
        ("sync", "metrics_file"),
    ):
        value = data.get(section, {}).get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            data[section][key] = os.path.normpath(base / Path(value).expanduser())


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and section)"
        elif item["type"] == "missing":
            message = "missing (required)"
        got = item.get("input")
        if item["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict):
            redacted = "***" if any(s in key for s in ("api_key", "password", "token")) else got
            message = f"{message} (got {redacted!r})"
        lines.append(f"{key}: {message}" if key else message)  # a whole-config rule names its keys
    return "invalid config:\n  " + "\n  ".join(lines)


def parse_config(
    data: dict[str, Any],
    *,
    base: Path | None = None,
    env: dict[str, str] | None = None,
    offline: bool = False,
) -> Config:
    """Validate a config mapping (as read from TOML); raises :class:`ConfigError` naming every
    key at fault at once. ``offline``: for commands that read the state file only, unset
    environment variables are no fault."""
    unset: list[str] = []
    expanded = _expand(data, (), dict(os.environ) if env is None else env, unset, offline)
    if unset:
        raise ConfigError("invalid config:\n  " + "\n  ".join(unset))
    if base is not None:
        _resolve_paths(expanded, base)
    try:
        return Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_config(path: Path, *, env: dict[str, str] | None = None, offline: bool = False) -> Config:
    """Read, expand and validate the TOML config at ``path``; raises :class:`ConfigError`.
    ``offline``: for commands that read the state file only (no secret needed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, base=path.resolve().parent, env=env, offline=offline)
