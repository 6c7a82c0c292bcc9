"""Binance's error answers: an HTTP status and a body `{"code": -XXXX, "msg": "..."}`."""

from __future__ import annotations


class BinanceError(Exception):
    """Raised anywhere in the emulator; the server turns it into Binance's error response."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(param: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed."
    )


def illegal(param: str, legal: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'."
    )


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def unknown_order() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def bad_api_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def not_authorized() -> BinanceError:
    """A signed request the key has no permission for (e.g. transfers without "Permits
    Universal Transfer")."""
    return BinanceError(-1002, "You are not authorized to execute this request.", status=401)
