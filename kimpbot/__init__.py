"""kimpbot: a hedged kimchi-premium trading bot (Upbit KRW spot vs Binance USDT-M perpetual)."""

__version__ = "0.1.0"
