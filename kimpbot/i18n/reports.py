"""The report commands' texts: /daily /weekly /monthly /performance /stats (kimpbot.control.reports).

Every report is a monospace block (at most 36 cells a line, Hangul 2 cells), headed by the ledger it
reads — paper or live, never mixed."""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

# a ledger's mark in every report title
MODE_PAPER = Msg("📝 모의", "📝 PAPER")
MODE_LIVE = Msg("🔴 실전", "🔴 LIVE")

TITLE_DAILY = Msg("📅 일별 실현 손익 · {mode}", "📅 Daily P&L · {mode}")
TITLE_WEEKLY = Msg("📅 주별 실현 손익 · {mode}", "📅 Weekly P&L · {mode}")
TITLE_MONTHLY = Msg("📅 월별 실현 손익 · {mode}", "📅 Monthly P&L · {mode}")
TITLE_PERFORMANCE = Msg("📊 코인별 성과 · {mode}", "📊 Per coin · {mode}")
TITLE_STATS = Msg("📈 통계 · {mode}", "📈 Stats · {mode}")

# period tables
COL_DAY = Msg("날짜", "day")
COL_WEEK = Msg("주(월~)", "week")
COL_MONTH = Msg("월", "month")
COL_TRADES = Msg("건", "n")
COL_PNL = Msg("손익", "P&L")
COL_PCT = Msg("자본%", "cap%")
COL_COIN = Msg("코인", "coin")
COL_WINRATE = Msg("승률", "win")
TOTAL = Msg("합계", "total")
# Monday first, as Korea's calendars and ISO weeks
WEEKDAYS = Msg("월 화 수 목 금 토 일", "Mon Tue Wed Thu Fri Sat Sun")
WEEK_LABEL = Msg("{start}~", "{start}~")
KST_NOTE = Msg("KST 기준, 청산 시각에 집계", "KST; a trade counts at its exit")
CAPITAL_NOTE = Msg("자본% = 자본 {capital} 대비", "cap% = of capital {capital}")
PARTIAL_NOTE = Msg("부분 청산 {n}건 손익 포함", "incl. {n} partial exit(s)")
NO_TRADES = Msg("청산된 거래 없음", "no closed trades yet")

# /stats
CLOSED_WINRATE = Msg("청산 {n}건 · 승률 {rate}", "{n} closed · win {rate}")
WINS_LOSSES = Msg("  ({wins}승 {losses}패)", "  ({wins} won, {losses} lost)")
AVG_HOLD = Msg("평균 보유", "avg hold")
BEST = Msg("최고", "best")
WORST = Msg("최저", "worst")
TRADE_LINE = Msg("{coin} {pnl} {day}", "{coin} {pnl} {day}")
FEES = Msg("수수료", "fees")
FUNDING = Msg("펀딩", "funding")
ROLLBACKS = Msg("롤백 {n}건", "{n} rollback(s)")
ANATOMY = Msg("손익 구성", "Where the P&L came from")
A_PREMIUM = Msg("프리미엄 변동", "premium move")
A_USDKRW = Msg("환율 USD/KRW", "USD/KRW move")
A_UNHEDGED = Msg("코인 비헤지분", "coin (unhedged)")
A_FUNDING = Msg("펀딩", "funding")
A_FEES = Msg("수수료", "fees")
A_SLIPPAGE = Msg("슬리피지", "slippage")
A_NET = Msg("= 실현 손익", "= realized")
CONCENTRATION = Msg("수익 집중도", "Profit concentration")
BEST1_SHARE = Msg("최고 1건", "best trade")
BEST5_SHARE = Msg("상위 5건", "best 5")
# what the anatomy of a live/paper trade approximates (the backtester reads candle mids)
SLIPPAGE_NOTE = Msg("슬리피지: 신호가 본 호가 대비 체결가", "slippage: fills vs the signal's book")
APPROX_NOTE = Msg("{n}건은 평균 체결가로 추정", "{n} estimated from average fills")
NO_ANATOMY = Msg("손익 구성: 자료 없음", "anatomy: no trade data")

# arguments
BAD_N = Msg("❌ /{cmd} 뒤에는 1~{max} 사이의 숫자 (예: /{cmd} {default}). 받은 값: {got}",
            "❌ /{cmd} takes a number from 1 to {max} (e.g. /{cmd} {default}), not {got}.")
NO_ARGS = Msg("❌ /{cmd} 는 인자를 받지 않습니다: /{cmd}", "❌ /{cmd} takes no arguments: just /{cmd}")

register_area("reports", globals())
