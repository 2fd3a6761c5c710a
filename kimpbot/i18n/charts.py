"""``/chart`` (the caption, the refusals and the labels drawn on the PNG) and the backtest chart.

The caption is read on a phone: every line at most 36 cells (Hangul = 2), the numbers first.
Labels drawn on a chart are rendered here too and handed to the drawing process as plain strings.
"""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

# ---- /chart: the caption ----------------------------------------------------------------
CAPTION_HEAD = Msg("📈 {coin} 김프 · {period}", "📈 {coin} premium · {period}")
CAPTION_NOW = Msg("현재 {prem} · z {z}", "now {prem} · z {z}")
CAPTION_BANDS = Msg("밴드 평균±kσ ({window}): {tiers}", "bands mean±kσ ({window}): {tiers}")
CAPTION_MARKS = Msg("진입 {entries} · 청산 {exits} ({mode})", "entries {entries} · exits {exits} ({mode})")
CAPTION_OPEN = Msg("보유 진입 {prem} ({mode})", "open entry {prem} ({mode})")
CAPTION_SHORT = Msg("⚠️ {have}치 데이터만 있음", "⚠️ only {have} of bars")
CAPTION_NOT_READY = Msg("⚠️ z 창이 아직 다 안 참", "⚠️ z window not full yet")
CAPTION_ENGLISH = Msg("(한글 글꼴 없음: 차트는 영어)", "(no Korean font: chart in English)")

PERIOD = Msg("{n}일", "{n}d")

# ---- /chart: refusals and failures ------------------------------------------------------
BAD_SYMBOL = Msg("❓ {coin}: 거래 코인이 아님.\n가능: {coins}\n예: /chart BTC 7d",
                 "❓ {coin}: not traded here.\nOne of: {coins}\nE.g. /chart BTC 7d")
BAD_PERIOD = Msg("❓ 기간 {period}: {periods} 중 하나.\n예: /chart BTC 7d",
                 "❓ period {period}: one of {periods}.\nE.g. /chart BTC 7d")
BAD_ARGS = Msg("❓ /chart 코인 [기간] 형식입니다.\n예: /chart BTC 7d",
               "❓ use /chart COIN [PERIOD].\nE.g. /chart BTC 7d")
NO_HISTORY = Msg("{coin}: 아직 차트를 그릴 데이터가 없습니다 (봉 {n}개). 잠시 후 다시 해 보세요.",
                 "{coin}: not enough history for a chart yet ({n} bars). Try again in a few minutes.")
FAILED = Msg("❌ 차트를 그리지 못했습니다.\n{why}", "❌ chart not drawn.\n{why}")

# ---- labels drawn on the /chart PNG -----------------------------------------------------
TITLE = Msg("{coin} 김프 · {period} · 현재 {prem} · z {z}", "{coin} premium · {period} · now {prem} · z {z}")
Y_LABEL = Msg("김프 % (중간가)", "premium % (mid)")
X_LABEL = Msg("시간 (KST)", "time (KST)")
PREMIUM_LINE = Msg("김프", "premium")
MEAN_LINE = Msg("평균 {prem} ({window})", "mean {prem} ({window})")
BAND = Msg("{sign}{k}σ {tier} {prem}", "{sign}{k}σ {tier} {prem}")
TIER_NORMAL = Msg("일반", "normal")
TIER_EXTREME = Msg("극단", "extreme")
TIER_ULTRA = Msg("초극단", "ultra")
TIER_ENTRY = Msg("진입", "entry")
ENTRY_MARK = Msg("진입 ({mode})", "entry ({mode})")
EXIT_MARK = Msg("청산 ({mode})", "exit ({mode})")
OPEN_LINE = Msg("보유 진입 {prem} ({mode})", "open entry {prem} ({mode})")

# ---- the backtest chart (kimpbot backtest --chart) --------------------------------------
BT_TITLE = Msg("{strategy} · {start} ~ {end} · 수익률 {ret} · 샤프 {sharpe}",
               "{strategy} · {start} to {end} · return {ret} · Sharpe {sharpe}")
BT_EQUITY = Msg("자산 (백만 원)", "equity (M KRW)")
BT_PREMIUM = Msg("김프 % (중간가)", "premium % (mid)")
BT_Z = Msg("z (중간가)", "z (mid)")
BT_MARKS = Msg("▲ 김프 매수 / ▼ 김프 매도 진입, + 추가, × 청산 (코인별 색): {strategy}",
               "▲ long / ▼ short premium entries, + adds, × exits (colour per coin): {strategy}")
BT_COIN_ENTRY = Msg("{coin} 진입", "{coin} entry")
BT_COIN_EXIT = Msg("{coin} 청산", "{coin} exit")
BT_COIN_PREMIUM = Msg("{coin} 김프", "{coin} premium")
BT_PART_PREMIUM = Msg("김프 변동", "premium move")
BT_PART_FX = Msg("환율 변동", "USD/KRW move")
BT_PART_UNHEDGED = Msg("헤지 안 된 부분", "unhedged")
BT_PART_FUNDING = Msg("펀딩", "funding")
BT_PART_FEES = Msg("수수료", "fees")
BT_PART_SLIPPAGE = Msg("슬리피지", "slippage")
BT_PART_NET = Msg("순손익", "net")
BT_ANATOMY = Msg("손익 구성: {strategy}", "P&L anatomy: {strategy}")
BT_CUM_PNL = Msg("누적 손익 (백만 원)", "cum. P&L (M KRW)")

register_area("charts", globals())
