"""Words every area uses: modes, sides, venues, yes/no, "unset by owner"."""

from __future__ import annotations

from kimpbot.i18n import Msg, Text, register_area

PAPER = Msg("모의", "PAPER")
LIVE = Msg("실전", "LIVE")
BUY = Msg("매수", "buy")
SELL = Msg("매도", "sell")
UPBIT = Msg("업비트", "Upbit")
BINANCE = Msg("바이낸스", "Binance")
YES = Msg("✅ 확인", "✅ Confirm")
NO = Msg("✖️ 취소", "✖️ Cancel")
UNSET_BY_OWNER = Msg("기본값(미설정)", "unset by owner")
OWNER_SET = Msg("소유자 설정", "owner set")
NA = Msg("없음", "n/a")
REFRESH = Msg("🔄 새로고침", "🔄 Refresh")
NOT_AUTHORIZED = Msg("⛔ 권한 없음", "⛔ Not authorized")


def mode(name: str) -> Text:
    """"paper"/"live" as the owner reads it."""
    return (LIVE if str(name).lower() == "live" else PAPER)()


def side(name: str) -> Text | str:
    n = str(name).lower()
    return BUY() if n == "buy" else SELL() if n == "sell" else str(name)


def venue(name: str) -> Text | str:
    n = str(name).lower()
    return UPBIT() if n == "upbit" else BINANCE() if n == "binance" else str(name)


register_area("common", globals())
