"""Texts of the chat front ends themselves (not of the command core): Telegram's reply keyboard
and quick answers, Discord's slash command options, choices and front-side errors."""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

# ---- Telegram reply keyboard: one label per ``keyboard=True`` command of command_list ----------
# Pressing a button sends its label as a plain message; the front maps the label (either
# language) back to the command, so a label may be a word rather than "/status".
KB_STATUS = Msg("📊 상태", "📊 Status")
KB_POSITIONS = Msg("📂 포지션", "📂 Positions")
KB_PNL = Msg("💰 손익", "💰 P&L")
KB_BALANCE = Msg("🏦 잔고", "🏦 Balance")
KB_CHART = Msg("📈 차트", "📈 Chart")
KB_PENDING = Msg("⏳ 대기 신호", "⏳ Pending")
KB_HALT = Msg("🛑 즉시 정지", "🛑 Halt")
KB_PLACEHOLDER = Msg("명령을 고르거나 /help", "pick a command or /help")

WORKING = Msg("처리 중…", "Working…")
DONE = Msg("완료", "ok")
EMPTY = Msg("(내용 없음)", "(empty)")
COMMAND_FAILED = Msg("❌ /{name} 처리 실패: 잠시 후 다시 시도하세요.",
                     "❌ /{name} failed here: try again in a moment.")

# ---- Discord slash command options (descriptions: 1–100 characters) ----------------------------
OPT_SYMBOL = Msg("코인", "coin")
OPT_PERIOD = Msg("기간 (기본 1일)", "period (default 1d)")
OPT_POSITION = Msg("청산할 포지션", "the position to close")
OPT_N = Msg("개수", "how many")
OPT_ID = Msg("신호 ID (/pending)", "signal id (/pending)")
OPT_KEY = Msg("전략 키 (예: zscore.exit_z)", "strategy key (e.g. zscore.exit_z)")
OPT_VALUE = Msg("새 값", "new value")
OPT_KIND = Msg("알림 종류", "notification kind")
OPT_LEVEL = Msg("켬 / 무음 / 끔", "on / silent / off")
PERIOD_1D = Msg("1일", "1 day")
PERIOD_7D = Msg("7일", "7 days")
PERIOD_20D = Msg("20일", "20 days")
LEVEL_ON = Msg("켬 (소리)", "on (with sound)")
LEVEL_SILENT = Msg("무음", "silent")
LEVEL_OFF = Msg("끔", "off")

register_area("fronts", globals())
