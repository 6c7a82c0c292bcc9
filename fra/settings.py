"""Effective settings: command-line flags > FRA_* environment > .env file > defaults."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from fra.errors import BadInput

if TYPE_CHECKING:
    from fra.core.forecast import ForecastParams
    from fra.core.ranking import RankParams
    from fra.core.risk import RiskLimits

# A period is the market's reference 8h funding period: rate thresholds and the holding horizon
# are expressed in it so that 1h, 4h and 8h symbols are compared on the same footing.


# More USDT than exist: a larger amount is a typo, and 1e400 overflows the sizing arithmetic.
MONEY_MAX = Decimal("1e12")
# Times the simulated market may be set to: perpetual swaps began in 2016 (a year of slack for
# warm-ups), and a clock past 2100 is a typo or a runaway FRA_SIM__SPEEDUP.
SIM_EARLIEST_MS = 1_420_070_400_000  # 2015-01-01
SIM_LATEST_MS = 4_102_444_800_000  # 2100-01-01
SHOCK_PRICE_MAX = 10.0  # +1000 %
SHOCK_MS_MAX = 365 * 24 * 3_600_000


def _none(value: Any) -> Any:
    """An optional setting is switched off with an empty value, `none`, `null` or `off` (an
    environment variable cannot be unset to mean None)."""
    if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off"):
        return None
    return value


class StrategySettings(BaseModel):
    min_funding_rate: Decimal = Field(
        Decimal("0.0001"),
        ge=-1,
        le=1,
        description="Open only when the forecast rate is above this, per 8h (0.0001 = 0.01 %)",
    )
    exit_funding_rate: Decimal = Field(
        Decimal("-0.0001"),
        ge=-1,
        le=1,
        description="Close when the forecast falls below this, less the exit cost spread over"
        " the horizon, per 8h",
    )
    min_holding_periods: int = Field(
        90,
        ge=1,
        le=1095,
        description="Horizon, in 8h periods, that entry+exit costs are spread over",
    )
    forecast_half_life_hours: int = Field(
        2160,
        ge=1,
        le=8760,
        description="Half-life of the weighted mean of settled funding prints, hours",
    )
    predicted_weight: Decimal = Field(
        Decimal("0.05"),
        ge=0,
        le=1,
        description="Weight of the venue's predicted next rate in the forecast (0 = settled only)",
    )
    stop_funding_rate: Decimal | None = Field(
        Decimal("-0.0003"),
        ge=-1,
        lt=0,
        description="Close when every print for stop_hours was below this, per 8h; off: never",
    )
    stop_hours: int = Field(
        72, ge=1, le=720, description="How long prints must stay below the stop rate, hours"
    )
    min_volume_usd: Decimal = Field(
        Decimal("20000000"), ge=0, description="Minimum 24h quote volume of both legs, USD"
    )
    symbols: list[str] = Field(
        default_factory=list,
        description='Trade only these perpetuals (JSON list, e.g. ["BTC/USDT:USDT"]); empty = all',
    )

    _stop_off = field_validator("stop_funding_rate", mode="before")(
        staticmethod(lambda v: _none(v))
    )

    def rank_params(self) -> RankParams:
        from fra.core.ranking import RankParams

        return RankParams(
            self.min_funding_rate,
            self.min_volume_usd,
            self.min_holding_periods,
            frozenset(self.symbols),
            self.exit_funding_rate,
            self.stop_funding_rate,
            self.stop_hours,
        )

    def forecast_params(self) -> ForecastParams:
        from fra.core.forecast import ForecastParams

        return ForecastParams(self.forecast_half_life_hours, self.predicted_weight)

    @model_validator(mode="after")
    def _exit_below_entry(self) -> StrategySettings:
        if self.exit_funding_rate > self.min_funding_rate:
            raise ValueError("exit_funding_rate must not exceed min_funding_rate")
        return self


class RiskSettings(BaseModel):
    max_positions: int = Field(2, ge=0, description="Maximum simultaneous hedged positions")
    max_position_usd: Decimal | None = Field(
        None, gt=0, description="Maximum notional of one position (per leg), USD; unset: none"
    )
    max_total_exposure_usd: Decimal | None = Field(
        None, gt=0, description="Maximum notional of all positions together, USD; unset: none"
    )
    max_position_fraction: Decimal = Field(
        Decimal("0.5"),
        gt=0,
        le=1,
        description="Largest share of equity one position may use (spot, margin and fees)",
    )
    max_total_fraction: Decimal = Field(
        Decimal("1"),
        gt=0,
        le=1,
        description="Largest share of equity all positions together may use",
    )
    leverage: int = Field(3, ge=1, le=20, description="Perp leverage: margin = notional/leverage")
    margin_alert: Decimal = Field(
        Decimal("0.3"), gt=0, lt=1, description="Margin ratio that raises an alert"
    )
    margin_critical: Decimal = Field(
        Decimal("0.5"), gt=0, lt=1, description="Margin ratio that triggers the emergency stop"
    )
    # The cushion is (margin balance - maintenance margin) / notional: about the rally that
    # would liquidate the short, the same for every coin. The defaults are the margin-ratio
    # band the walk-forward search chose on 2020-23 under a flat 1 % maintenance rate
    # (0.08 -> 0.03), translated: 1 % / 0.08 - 1 % and 1 % / 0.03 - 1 %.
    topup_cushion: Decimal = Field(
        Decimal("0.115"),
        ge=0,
        lt=1,
        description="Top up a short whose cushion (margin balance less maintenance margin, over"
        " the notional: about the rally that would liquidate it) is below this (0 = never)",
    )
    target_cushion: Decimal = Field(
        Decimal("0.32"),
        gt=0,
        lt=1,
        description="The cushion a top-up restores (at most the one the short was opened with)",
    )
    delta_tolerance: Decimal = Field(
        Decimal("0.01"), gt=0, lt=1, description="Largest relative spot/perp quantity mismatch"
    )

    @field_validator("max_position_usd", "max_total_exposure_usd", mode="before")
    @classmethod
    def _caps_off(cls, value: Any) -> Any:
        return _none(value)

    def limits(self) -> RiskLimits:
        from fra.core.risk import RiskLimits

        return RiskLimits(
            self.max_positions,
            self.max_position_usd,
            self.max_total_exposure_usd,
            self.leverage,
            self.max_position_fraction,
            self.max_total_fraction,
        )

    @model_validator(mode="after")
    def _alert_below_critical(self) -> RiskSettings:
        if self.margin_alert >= self.margin_critical:
            raise ValueError("margin_alert must be below margin_critical")
        if self.topup_cushion and not self.topup_cushion < self.target_cushion:
            raise ValueError(
                f"topup_cushion ({self.topup_cushion}) must be below target_cushion"
                f" ({self.target_cushion}); topup_cushion = 0 turns top-ups off"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        # A margin-ratio band meant a different cushion for every coin once maintenance
        # margin came from the real brackets; an old setting must not be silently ignored.
        renamed = {"margin_topup": "topup_cushion", "margin_target": "target_cushion"}
        for old, new in renamed.items():
            if isinstance(data, dict) and old in data:
                raise ValueError(
                    f"{old}: renamed: FRA_RISK__{old.upper()} is now FRA_RISK__{new.upper()},"
                    " a cushion (fraction of the notional) rather than a margin ratio; see the"
                    " README's Configuration"
                )
        return data


class PaperSettings(BaseModel):
    starting_balance: Decimal = Field(
        Decimal("10000"), gt=0, le=MONEY_MAX, description="Paper account's starting USDT"
    )
    fill_delay_ms: int = Field(
        0, ge=0, description="Pause before each paper fill (exercises interruption handling)"
    )


class NotifySettings(BaseModel):
    urls: list[str] = Field(
        default_factory=list,
        description="Where to send notifications: apprise URLs (JSON list, e.g."
        ' ["ntfys://ntfy.sh/your-topic"]); prefix one with a level, critical=URL, to send it only'
        " messages of that level or worse",
    )
    level: Literal["info", "warning", "critical"] = Field(
        "info", description="Least level a URL without a level prefix is sent"
    )
    repeat_hours: float = Field(
        4.0, ge=0, le=720, description="Remind of a lasting condition every so many hours; 0: never"
    )
    daily_hour: int | None = Field(
        None, ge=0, le=23, description="Hour (UTC) of the daily summary; off: none"
    )
    timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="How long one notification or heartbeat may take"
    )
    heartbeat_url: str | None = Field(
        None,
        description="Pinged (HTTP GET) after every cycle that ran to its end: a dead man's switch"
        " such as healthchecks.io or Uptime Kuma's push monitor",
    )

    _off = field_validator("daily_hour", "heartbeat_url", mode="before")(
        staticmethod(lambda v: _none(v))
    )

    @field_validator("urls")
    @classmethod
    def _urls_plausible(cls, urls: list[str]) -> list[str]:
        from fra.core.alerts import split_target, url_problem

        # The URLs hold tokens: an error names the item by its place, never shows it.
        for i, text in enumerate(urls, 1):
            problem = url_problem(split_target(text)[1])
            if problem:
                raise ValueError(
                    f"item {i} {problem}; give apprise URLs such as ntfys://ntfy.sh/your-topic"
                )
        return urls

    @field_validator("heartbeat_url")
    @classmethod
    def _heartbeat_http(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if (
            parts.scheme.lower() not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() or not c.isprintable() for c in url.strip())
        ):
            raise ValueError("is not an http or https URL; give e.g. https://hc-ping.com/<uuid>")
        return url.strip()

    def masked(self) -> dict[str, Any]:
        from fra.core.alerts import mask_url

        data = self.model_dump(mode="json")
        data["urls"] = [mask_url(u) for u in self.urls]
        data["heartbeat_url"] = mask_url(self.heartbeat_url) if self.heartbeat_url else None
        return data


class SimSettings(BaseModel):
    seed: int = Field(7, description="Seed of the simulated market")
    speedup: float = Field(
        1.0, gt=0, le=100_000, description="Simulated seconds per wall second (demos)"
    )
    now: datetime | None = Field(None, description="Pin the simulated clock (ISO time, UTC)")
    shocks: list[str] = Field(
        default_factory=list,
        description="Forced events, e.g. SOL/USDT:USDT@2026-03-01T12:00:00Z:price=+35%:hours=6",
    )
    funding_noise: float = Field(
        0.0,
        ge=0,
        le=1,
        description="How noisy consecutive funding prints are, same mean: 0 smooth like Binance"
        " (lag-1 autocorrelation ~0.75), 1 as jumpy as the noisiest real venues (~0.3)",
    )

    _now_off = field_validator("now", mode="before")(staticmethod(lambda v: _none(v)))

    @field_validator("now")
    @classmethod
    def _now_plausible(cls, now: datetime | None) -> datetime | None:
        if now is None:
            return None
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)  # the whole tool speaks UTC, not the machine's zone
        sim_time(int(now.timestamp() * 1000), f"the simulated clock ({now:%Y-%m-%d %H:%M} UTC)")
        return now

    @field_validator("shocks")
    @classmethod
    def _shocks_parse(cls, shocks: list[str]) -> list[str]:
        # Checked here, before any command touches state, not when the market is built.
        if shocks:
            from fra.venues.simulated import parse_shock

            for text in shocks:
                shock = parse_shock(text)
                sim_time(shock.start_ms, f"shock {text!r}")
                # Beyond these a shock is a typo, not an event: prices of 1e300, a year-long
                # squeeze.
                if shock.price_move > SHOCK_PRICE_MAX or shock.duration_ms > SHOCK_MS_MAX:
                    raise ValueError(
                        f"shock {text!r} moves the price more than +1000 % or lasts more than"
                        " a year; give e.g. price=+35%:hours=24"
                    )
        return shocks

    @model_validator(mode="after")
    def _shocks_known(self) -> SimSettings:
        if self.shocks:
            from fra.venues.simulated import SimulatedMarket, parse_shock

            try:
                SimulatedMarket(
                    self.seed,
                    shocks=[parse_shock(text) for text in self.shocks],
                    funding_noise=self.funding_noise,
                )
            except ValueError as exc:
                raise ValueError(f"shocks: {exc}") from None
        return self


def sim_time(when_ms: int, what: str) -> None:
    """A ValueError unless the simulated market may be set to `when_ms`."""
    if not SIM_EARLIEST_MS <= when_ms < SIM_LATEST_MS:
        raise ValueError(
            f"{what} is not between 2015 and 2100; give an ISO time such as 2026-03-01T00:00:00Z"
        )


class BacktestSettings(BaseModel):
    capital: Decimal = Field(
        Decimal("10000"), gt=0, le=MONEY_MAX, description="Starting capital, USDT"
    )
    spot_fee: Decimal = Field(
        Decimal("0.001"), ge=0, lt=1, description="Spot taker fee (Binance's base rate)"
    )
    perp_fee: Decimal = Field(
        Decimal("0.0005"), ge=0, lt=1, description="Perpetual taker fee (Binance's base rate)"
    )
    spread_bps: Decimal = Field(
        Decimal("2"), ge=0, description="Bid-ask spread of each leg, basis points"
    )
    slippage_bps: Decimal = Field(
        Decimal("2"), ge=0, description="Slippage of each fill beyond the spread, basis points"
    )
    maintenance_margin_rate: Decimal | None = Field(
        None,
        gt=0,
        lt=1,
        description="One maintenance margin rate for every short at every size, instead of"
        " Binance's leverage brackets (off: the brackets)",
    )
    resume_after_hours: int = Field(
        24, ge=0, description="Hours a halt lasts in a backtest (stands in for `fra resume`)"
    )

    _rate_off = field_validator("maintenance_margin_rate", mode="before")(
        staticmethod(lambda v: _none(v))
    )


class LiveSettings(BaseModel):
    confirm: bool = Field(
        False, description="Must be true for live mode: real orders with real money"
    )
    allow_withdrawal_key: bool = Field(
        False, description="Accept an API key that can withdraw funds (strongly discouraged)"
    )
    margin_mode: Literal["isolated", "cross"] = Field(
        "isolated", description="Margin mode fra sets on each perpetual it trades"
    )


class ServeSettings(BaseModel):
    token: SecretStr | None = Field(
        None,
        description="Token for `fra serve`: needed to bind beyond 127.0.0.1, to see the page"
        " and /metrics when set, and for the emergency-stop button",
    )

    _token_off = field_validator("token", mode="before")(staticmethod(lambda v: _none(v)))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRA_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    db: Path | None = Field(
        None, description="State file (SQLite); default state.db, or state-live.db in live mode"
    )
    history_db: Path | None = Field(
        None, description="History file (SQLite) for backtests; default history.db beside the state"
    )
    mode: Literal["paper", "live"] = Field(
        "paper", description="paper: simulated fills; live: real orders (needs FRA_LIVE__CONFIRM)"
    )
    venue: str = Field(
        "binance",
        description="Exchange id as ccxt knows it (binance, bybit, okx, ...) or simulated",
    )
    venue_url: str | None = Field(
        None, description="Send the exchange's API requests here instead (the local emulator)"
    )
    markets_ttl_minutes: int = Field(
        60, ge=0, le=10_080, description="How long the exchange's market list is cached in the db"
    )
    venue_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Timeout of one request to the exchange"
    )
    venue_retries: int = Field(
        3, ge=0, le=10, description="Retries of a request that failed for a temporary reason"
    )
    log_file: Path | None = Field(
        None, description="JSON-lines log; default: <db>.log.jsonl next to the state file"
    )
    lock_wait_seconds: float = Field(
        10.0, ge=0, le=3600, description="How long manual commands wait for a running cycle"
    )
    api_key: SecretStr | None = Field(None, description="Exchange API key (live mode, real fees)")
    api_secret: SecretStr | None = Field(None, description="Exchange API secret")
    live: LiveSettings = LiveSettings()
    backtest: BacktestSettings = BacktestSettings()
    strategy: StrategySettings = StrategySettings()
    risk: RiskSettings = RiskSettings()
    paper: PaperSettings = PaperSettings()
    sim: SimSettings = SimSettings()
    notify: NotifySettings = NotifySettings()
    serve: ServeSettings = ServeSettings()

    @field_validator("venue_url", mode="before")
    @classmethod
    def _venue_url_off(cls, value: Any) -> Any:
        return _none(value)

    @field_validator("venue_url")
    @classmethod
    def _venue_url_http(cls, url: str | None) -> str | None:
        return None if url is None else http_url(url)

    @field_validator("venue")
    @classmethod
    def _venue_known(cls, venue: str) -> str:
        venue = venue.strip().lower()
        if venue != "simulated" and venue not in ccxt_exchange_ids():
            raise ValueError(
                "unknown exchange id (use simulated or one of ccxt's ids: binance, bybit, okx, ...)"
            )
        return venue

    @model_validator(mode="after")
    def _live_is_deliberate(self) -> Settings:
        if self.mode != "live":
            return self
        if self.venue != "binance":
            raise ValueError("mode: live trading is supported on binance only")
        if not self.live.confirm:
            raise ValueError(
                "mode: live trading needs FRA_LIVE__CONFIRM=true as well (real orders, real money)"
            )
        if self.api_key is None or self.api_secret is None:
            raise ValueError("api_key: live mode needs FRA_API_KEY and FRA_API_SECRET")
        return self

    # `fra --init`: an empty (zero-length) state file may start afresh. A flag, never a setting,
    # so that it is said on purpose for one command.
    _init_state: bool = PrivateAttr(default=False)

    @property
    def init_state(self) -> bool:
        return self._init_state

    @property
    def db_path(self) -> Path:
        # Live and paper never share a file (freqtrade's dry-run does the same).
        if self.db is not None:
            return self.db
        return Path("state-live.db" if self.mode == "live" else "state.db")

    @property
    def history_path(self) -> Path:
        return self.history_db or self.db_path.with_name("history.db")

    @property
    def simulated(self) -> bool:
        return self.venue == "simulated"

    @property
    def log_path(self) -> Path:
        return self.log_file or self.db_path.with_name(self.db_path.name + ".log.jsonl")


def http_url(url: str) -> str:
    """`url` if it is an http(s) base address requests can be sent to, else a ValueError
    saying what is wrong with it: caught here, it is a setting to fix (exit 2), where at the
    first request it would look like an exchange that is down (exit 5, retried for ever)."""
    example = "http://127.0.0.1:8765"
    url = url.strip()
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"has spaces or control characters; give a plain URL such as {example}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what checks it
    except ValueError as exc:
        raise ValueError(f"is not a URL ({exc}); give one like {example}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"is not an http or https URL with a host; give one like {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "holds a user name or password, which `fra status` and the state file would show;"
            f" give the address alone, such as {example}"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"has a ?query or #fragment; give the base address alone, such as {example}"
        )
    return url


@cache
def ccxt_exchange_ids() -> frozenset[str]:
    """ccxt's exchange ids, read from its package files: importing ccxt costs most of a second."""
    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.origin is None:
        return frozenset()
    folder = Path(spec.origin).parent
    return frozenset(
        p.stem for p in folder.glob("*.py") if not p.stem.startswith("_") and p.stem != "pro"
    )


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one line that names the variable."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(part) for part in err["loc"] if not isinstance(part, int)]
        reason = err["msg"].removeprefix("Value error, ")
        field, _, rest = reason.partition(": ")
        if rest and field.isidentifier() and field.islower():
            # A model-level check that names its field ("shocks: ...").
            loc, reason = [*loc, field], rest
        name = "FRA_" + "__".join(loc).upper() if loc else "settings"
        # Notification settings hold tokens: never shown back.
        shown = err.get("input") if loc[:1] != ["notify"] else None
        value = f"={shown!r}" if isinstance(shown, str | int | float) else ""
        raise BadInput(
            f"invalid setting {name}{value}: {reason}",
            "fix it in the environment, .env or the command-line flag",
        ) from None
    except SettingsError as exc:
        # Raised before validation when a list setting is not JSON; name the list settings.
        group = str(exc).split('field "')[1].split('"')[0] if 'field "' in str(exc) else ""
        model = Settings.model_fields.get(group)
        fields = []
        if model is not None and isinstance(model.default, BaseModel):
            fields = [
                f"FRA_{group.upper()}__{n.upper()}"
                for n, f in type(model.default).model_fields.items()
                if "list" in str(f.annotation)
            ]
        names = " or ".join(fields) or f"FRA_{group.upper()}"
        raise BadInput(
            f"invalid setting {names}: not a JSON list",
            "write it as a JSON list, e.g. '[\"BTC/USDT:USDT\"]'",
        ) from None


def masked(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON-able data with secrets replaced by asterisks."""
    data = settings.model_dump(mode="json")
    data["notify"] = settings.notify.masked()
    for name in ("api_key", "api_secret"):
        data[name] = "********" if getattr(settings, name) else None
    data["serve"]["token"] = "********" if settings.serve.token else None
    return data
