"""Data fra ships: Binance's leverage brackets (see README.md in this folder)."""
