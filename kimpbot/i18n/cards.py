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

# ---- Discord embeds of the events that are not cards (webhook / bot channel) ----------------------
F_SYMBOL = Msg("코인", "Symbol")
F_DIRECTION = Msg("방향", "Direction")
F_SIZE = Msg("규모", "Size")
F_VENUE = Msg("거래소", "Venue")
F_SIDE = Msg("방향(매수/매도)", "Side")
F_FILLED = Msg("체결", "Filled")
F_UPBIT_LEG = Msg("업비트 주문", "Upbit leg")
F_BINANCE_LEG = Msg("바이낸스 주문", "Binance leg")
F_UNWIND = Msg("{venue} 되돌림", "{venue} unwind")
F_PREMIUM = Msg("실행 김프", "Executable premium")
F_TARGET = Msg("기대 수익", "Expected profit")
F_TARGET_VALUE = Msg("목표 {target}", "{target} target")
F_REALIZED = Msg("실현 손익", "Realized")
F_COST = Msg("비용", "Cost")
F_EXPOSURE = Msg("노출", "Exposure")
F_REASONS = Msg("사유", "Reasons")
F_PROBLEMS = Msg("문제", "Problems")
F_SOURCE = Msg("환율 출처", "Source")
F_RATE = Msg("환율", "Rate")
F_REASON = Msg("사유", "Reason")
F_TRADE = Msg("거래", "Trade")
F_SIGNAL_ID = Msg("신호 ID", "Signal id")
T_EXIT = Msg("{coin} 청산", "{coin} exit")
T_TRADE_FILLED = Msg("{coin} {action} 체결", "{coin} {action} filled")
T_LEG = Msg("{what} 체결", "{what} filled")
T_LEG_PART = Msg("{what} 일부 체결", "{what} partly filled")
T_SIGNAL = Msg("{what} 신호", "{what} signal")
T_SIGNAL_EXPIRED = Msg("신호 {id} 만료", "Signal {id} expired")
T_ORDER_RECHECK = Msg("주문 재확인", "Order re-check")
T_RECONCILE = Msg("재시작 대조", "Restart reconciliation")
T_STARTED = Msg("kimpbot 시작", "kimpbot started")
T_TRADING_AGAIN = Msg("거래 재개", "Trading again")
T_NOT_TRADING = Msg("거래 안 함", "NOT TRADING")
T_HEALTHY = Msg("{coin} 데이터 정상 복귀", "{coin} data healthy again")
T_DATA_PROBLEM = Msg("{coin} 데이터 문제: 신호 중단", "{coin} data problem: signals stopped")
T_FX_SUSPECT = Msg("환율 의심: {what}", "FX rate suspect: {what}")
T_FX_SOURCE = Msg("환율 출처", "FX rate source")
T_MODE = Msg("거래 모드: {mode}", "Trading mode: {mode}")
T_CRITICAL = Msg("심각한 오류", "Critical error")
T_ROLLBACK = Msg("롤백", "Rollback")
T_UNWIND = Msg("되돌림", "Unwind")
T_EXPOSURE = Msg("미헤지 노출", "UNHEDGED EXPOSURE")
T_HALTED = Msg("정지됨", "Halted")
T_RESUMED = Msg("재개됨", "Resumed")
T_ERROR = Msg("오류", "Error")
T_REFUSED = Msg("신호 거절", "Signal refused")
T_FUNDING = Msg("펀딩비", "Funding")
HINT_SIGNAL = Msg("웹훅 메시지에는 버튼을 달 수 없음: 디스코드나 텔레그램 봇에 /pending (실행/건너뛰기 버튼) "
                  "또는 /confirm {{id}} · /skip {{id}} 로 응답",
                  "Webhook messages cannot carry buttons: answer with /pending (Execute / Skip buttons) or "
                  "/confirm {{id}} · /skip {{id}} to the bot in Discord or Telegram.")
HINT_FINDING = Msg("채택/청산/무시 버튼은 봇의 메시지에 있음 (텔레그램 또는 디스코드 봇 채널)",
                   "Adopt / Close / Ignore buttons come with the bot's own post (Telegram or the Discord bot channel).")
WAY_CHANNEL = Msg("<#{channel}>의 실행/건너뛰기 버튼", "the Execute / Skip buttons in <#{channel}>")
WAY_TELEGRAM = Msg("텔레그램의 실행/건너뛰기 버튼", "the Execute / Skip buttons in Telegram")
WAY_BOT = Msg("디스코드 봇에 /pending (버튼) 또는 /confirm {{id}} · /skip {{id}}",
              "/pending (buttons) or /confirm {{id}} · /skip {{id}} to the Discord bot")
WAY_CONSOLE = Msg("콘솔에서 /confirm {{id}} 또는 /skip {{id}}", "/confirm {{id}} or /skip {{id}} on the console")
ANSWER_WITH = Msg("응답 방법: {ways}.", "Answer with {ways}.")
OR = Msg(", 또는 ", ", or ")
AND = Msg(" 및 ", " and ")
TELEGRAM = Msg("텔레그램", "Telegram")
FINDING_WHERE = Msg("채택/청산/무시 버튼: {where}.", "Adopt / Close / Ignore buttons: {where}.")
FINDING_NOWHERE = Msg("발견 항목에 버튼을 달 채팅이 없음: TELEGRAM_BOT_TOKEN 또는 DISCORD_BOT_TOKEN과 "
                      "DISCORD_CHANNEL_ID를 설정해 응답하세요. 그때까지는 거래소를 직접 확인하세요.",
                      "No chat has buttons for findings: set TELEGRAM_BOT_TOKEN, or DISCORD_BOT_TOKEN with "
                      "DISCORD_CHANNEL_ID, to answer them; until then check the exchanges by hand.")
FINDINGS_BELOW = Msg("아래 {n}건 확인 필요.", "{n} finding(s) below.")

register_area("cards", globals())
