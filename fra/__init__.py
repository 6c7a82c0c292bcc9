"""fra: funding-rate arbitrage (spot long + perpetual short) as one-shot commands over SQLite."""

__version__ = "0.1.0"
