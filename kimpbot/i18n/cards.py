"""Trade cards (one message per trade, edited in place) and the /notify settings.

A card is a monospace block: every line at most 36 cells (Hangul counts 2), the important number
first. Titles are short so a phone's notification shows them whole."""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

# ---- card titles (the first line; the emoji is added by the card) --------------------------------
SIGNAL = Msg("{coin} {direction} {action} 신호", "{coin} {direction} {action} signal")
EXECUTING = Msg("{coin} {action} 실행 중…", "{coin} {action} executing…")
FILLED = Msg("{coin} {direction} {action} 완료", "{coin} {direction} {action} filled")
PARTIAL = Msg("{coin} {direction} {action} 일부 체결", "{coin} {direction} {action} partly filled")
EXIT_CLOSED = Msg("{coin} 청산 완료", "{coin} exit closed")
EXIT_PARTIAL = Msg("{coin} 일부 청산", "{coin} exit partly closed")
ROLLED_BACK = Msg("{coin} {action} 롤백", "{coin} {action} rolled back")
FAILED = Msg("{coin} {action} 실패", "{coin} {action} failed")
NOT_SENT = Msg("{coin} {action} 주문 안 함", "{coin} {action} not sent")
EXPOSED = Msg("{coin} 미헤지 노출!", "{coin} UNHEDGED!")

# ---- words -------------------------------------------------------------------------------------
LONG_PREMIUM = Msg("김프 롱", "long premium")
SHORT_PREMIUM = Msg("김프 숏", "short premium")
ENTER = Msg("진입", "enter")
ADD = Msg("추가 진입", "add")
EXIT = Msg("청산", "exit")

# ---- card lines ----------------------------------------------------------------------------------
SIG_PREMIUM = Msg("김프 {premium} · z {z}", "premium {premium} · z {z}")
SIG_SIZE = Msg("규모 {size}", "size {size}")
SIG_TARGET = Msg("목표 수익 {target}", "target {target}")
SIG_UNTIL = Msg("{until}까지 응답 · {id}", "answer by {until} · {id}")
SIG_WAITING = Msg("⏳ 실행/건너뛰기 대기", "⏳ waiting for Execute / Skip")
SIG_BLOCKED = Msg("버튼 없음: {why}", "no buttons: {why}")
SKIPPED = Msg("✖️ 건너뜀 ({by})", "✖️ skipped ({by})")
SKIPPED_NOBODY = Msg("✖️ 건너뜀", "✖️ skipped")
EXPIRED = Msg("⌛ 만료: 주문 없음", "⌛ Expired: nothing sent.")
ANSWERED_BY = Msg("응답: {by}", "answered by {by}")
NET = Msg("순김프 {premium} · {size}", "net {premium} · {size}")
SIZE_ONLY = Msg("규모 {size}", "size {size}")
REALIZED = Msg("실현 {pnl}", "realized {pnl}")
COST = Msg("비용 {cost} (수수료·가격차)", "cost {cost} (fees and slippage)")
NOTHING_FILLED = Msg("체결 없음: 잔고 변화 없음", "nothing filled: nothing changed")
STILL_HEDGED = Msg("포지션은 헤지된 채 유지", "the position stays open, hedged")
LEG_SENDING = Msg("{venue} {side} ⏳", "{venue} {side} ⏳")
LEG_FILLED = Msg("{venue} {side} ✔", "{venue} {side} ✔")
LEG_PARTIAL = Msg("{venue} {side} 일부 {filled}/{qty}", "{venue} {side} part {filled}/{qty}")
LEG_FAILED = Msg("{venue} {side} ✖ {why}", "{venue} {side} ✖ {why}")
LEG_NOT_FILLED = Msg("{venue} {side} ✖ 미체결", "{venue} {side} ✖ not filled")
LEG_QTY = Msg("  {qty} @ {price}", "  {qty} @ {price}")
LEG_FEE = Msg("  수수료 {fee}", "  fee {fee}")
UNWIND = Msg("↩ 되돌림 {venue} {side}", "↩ unwind {venue} {side}")
UNHEDGED_LINE = Msg("🚨 미헤지: {what}", "🚨 unhedged: {what}")
ALERT_SEPARATE = Msg("경보는 별도 메시지로 보냄", "alert sent as its own message")

# ---- the answer to a webhook signal (webhooks carry no buttons) ----------------------------------
HOW_TO_ANSWER = Msg("응답 방법", "How to answer")
NOT_OFFERED = Msg("제안 안 함", "Not offered")

# ---- /notify -------------------------------------------------------------------------------------
G_SIGNALS = Msg("신호", "signals")
G_TRADES = Msg("거래 카드", "trade cards")
G_FUNDING = Msg("펀딩비", "funding")
G_MARKET = Msg("시세·환율 상태", "data and FX health")
G_SYSTEM = Msg("봇 상태", "bot status")
G_REPORTS = Msg("리포트", "reports")
G_ALERTS = Msg("경보", "alerts")
L_ON = Msg("🔔 소리", "🔔 on")
L_SILENT = Msg("🔕 무음", "🔕 silent")
L_OFF = Msg("✖ 끔", "✖ off")
L_ALWAYS = Msg("🚨 항상 소리", "🚨 always on")
NOTIFY_HEAD = Msg("알림 설정 (종류별)", "Notifications per kind")
NOTIFY_ROW = Msg("{group} {level}", "{group} {level}")
NOTIFY_FOOT = Msg("경보(미헤지·정지·오류)는 끌 수 없음.\n/notify 종류 on|silent|off",
                  "Alerts (unhedged, halt, errors) cannot be\nturned off. /notify KIND on|silent|off")
NOTIFY_SET = Msg("✅ {group}: {level}", "✅ {group}: {level}")
NOTIFY_USAGE = Msg("사용법: /notify 종류 on|silent|off\n종류: {kinds}",
                   "usage: /notify KIND on|silent|off\nkinds: {kinds}")
NOTIFY_UNKNOWN_KIND = Msg("알 수 없는 종류 '{kind}'. 종류: {kinds}", "unknown kind '{kind}'. Kinds: {kinds}")
NOTIFY_UNKNOWN_LEVEL = Msg("알 수 없는 단계 '{level}': on, silent, off 중 하나",
                           "unknown level '{level}': one of on, silent, off")
NOTIFY_ALERTS_FIXED = Msg("경보(미헤지·정지·오류)는 항상 소리로 옵니다: 끌 수 없음",
                          "alerts (unhedged, halt, errors) always ring: they cannot be changed")
NOTIFY_TRADES_NOT_OFF = Msg("거래 카드는 끌 수 없음: 모든 체결과 롤백은 채팅에 옵니다 (무음은 가능)",
                            "trade cards cannot be turned off: every fill and rollback reaches the chat "
                            "(silent is allowed)")
NOTIFY_NOT_SAVED = Msg("저장 실패 ({why}): 설정 안 바뀜", "not saved ({why}): setting unchanged")

register_area("cards", globals())
