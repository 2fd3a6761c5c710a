"""The command core's texts (kimpbot.control.commands, console, format, gate): replies, button
answers (toasts), edits, refusals, confirmations, /help, the /status … /params views.

Monospace views are built line by line from these entries and kept within 36 cells a line
(see ``kimpbot.control.format.mono``)."""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

# ---- refusals, errors, generic answers ---------------------------------------------------------
NOT_AUTHORIZED_TEXT = Msg("⛔ 권한 없음 (사용자 ID {uid}). 소유자에게 허용 목록에 ID 추가를 요청하세요.",
                          "⛔ Not authorized (user id {uid}). Ask the owner to add your id to the allowed users.")
NOTHING_DONE = Msg("⛔ 실행 안 함: {why}.", "⛔ Nothing done: {why}.")
NOTHING_DONE_TOAST = Msg("⛔ 실행 안 함: {why}", "⛔ Nothing done: {why}")
WHY_NO_BUTTONS = Msg("봇이 이 메시지에 버튼을 단 적이 없음 (또는 너무 오래됨)",
                     "the bot put no buttons on this message (or it is too old)")
WHY_NOT_OFFERED = Msg("이 메시지에 있던 버튼이 아님", "this button was not offered on this message")
WHY_OTHER_MESSAGE = Msg("다른 메시지의 확인 버튼", "this confirmation belongs to another message")
WHY_ONLY_ASKER = Msg("요청한 {who}만 답할 수 있음", "only {who}, who asked for it, can answer this confirmation")
UNKNOWN_COMMAND = Msg("알 수 없는 명령 /{name}. /help 에 목록이 있습니다.",
                      "Unknown command /{name}. /help lists the commands.")
COMMAND_FAILED = Msg("❌ /{name} 실패: {error}", "❌ /{name} failed: {error}")
BUTTON_FAILED = Msg("❌ {error}", "❌ {error}")
FAILED_TOAST = Msg("실패", "failed")
UNKNOWN_BUTTON = Msg("알 수 없는 버튼", "unknown button")
NO_TRADER = Msg("매매가 실행 중이 아님 ({why}).", "Trading is not running ({why}).")
WATCHING_OR_STARTING = Msg("감시만 하거나 시작 중", "watching only, or still starting")
WATCHING_ONLY = Msg("감시만 함", "watching only")
SWITCHING_TOAST = Msg("모드 전환 중: 아무것도 보내지 않음, 잠시 후 다시", "A mode switch is in progress: nothing sent; try again in a moment")
SWITCHING_DONE_NOTHING = Msg("모드 전환 중: 아무것도 안 함, 잠시 후 다시 누르세요",
                             "A mode switch is in progress: nothing done; press again in a moment")
SWITCHING_TRY_AGAIN = Msg("모드 전환 중: 잠시 후 다시", "A mode switch is in progress: try again in a moment")
ALREADY = Msg("이미 {state}", "Already {state}")
ALREADY_ANSWERED = Msg("이미 답함", "Already answered")

# ---- state words -------------------------------------------------------------------------------
RUNNING = Msg("▶️ 실행 중", "▶️ running")
STOPPED = Msg("⏸ 정지 (신규 진입 없음)", "⏸ stopped (no new entries)")
HALTED_BY = Msg("🛑 긴급정지 ({reason}, {by})", "🛑 HALTED ({reason}, by {by})")
HALTED_STORE = Msg("🛑 긴급정지 (저장소: {why})", "🛑 HALTED (store: {why})")
TM_CONFIRM = Msg("확인 모드", "confirm")
TM_AUTO = Msg("자동 모드", "auto")
MODE_ICON_LIVE = Msg("🔴", "🔴")
MODE_ICON_PAPER = Msg("📝", "📝")
STATE_HEAD = Msg("{icon} {mode} · {tmode}", "{icon} {mode} · {tmode}")

# ---- /status -----------------------------------------------------------------------------------
FX = Msg("환율 {rate} ({label})", "FX {rate} ({label})")
FX_MISSING = Msg("환율 없음 ({label})", "FX missing ({label})")
FX_OTHER = Msg("{label} {rate}", "{label} {rate}")
FX_DIVERGENCE = Msg("USDT/은행 괴리 {pct}", "USDT vs bank {pct}")
DATA_PROBLEMS = Msg("⚠️ 데이터: {what}", "⚠️ data: {what}")
COL_SYM = Msg("코인", "sym")
COL_MID = Msg("김프", "mid%")
COL_LONG = Msg("롱", "long%")
COL_ZLONG = Msg("z롱", "z-lng")
COL_SHORT = Msg("숏", "shrt%")
COL_ZSHORT = Msg("z숏", "z-sht")
WAITING_DATA = Msg("데이터 대기", "waiting for data")
SYM_STALE = Msg("⚠️ {sym} 데이터 지연: {why}", "⚠️ {sym} STALE: {why}")
STATUS_LEGEND = Msg("김프 %: 롱/숏 = 실행 가능 (수수료 포함)", "%: long/short = executable incl. fees")
PNL_TODAY_TOTAL = Msg("💰 오늘 {today}\n   누적 {total}", "💰 today {today}\n   total {total}")
OPEN_PAIRS = Msg("보유 포지션 {n}개", "open pairs: {n}")
STAMP = Msg("🕒 {time}", "🕒 {time}")
UNRESOLVED = Msg("⏳ {symbol} {venue} {side} {qty}\n   {age}초 응답 없음, 늦은 체결 감시",
                 "⏳ {symbol} {venue} {side} {qty}\n   no final answer for {age} s,\n   watching for a late booking")
REFRESHED = Msg("새로고침됨", "Refreshed")

# ---- /positions --------------------------------------------------------------------------------
NO_POSITIONS = Msg("보유 포지션 없음.", "No open positions.")
DIR_LONG = Msg("김프 롱", "long premium")
DIR_SHORT = Msg("김프 숏", "short premium")
POSITION_HEAD = Msg("{symbol} {direction} ({tier})", "{symbol} {direction} ({tier})")
POSITION_PNL = Msg("손익 {pnl} ({pct})", "P&L {pnl} ({pct})")
POSITION_PREMIUM = Msg("진입 {entry} → 현재 {now}", "entry {entry} → now {now}")
POSITION_TARGET = Msg("목표 {target} · 보유 {age}", "target {target} · age {age}")
POSITION_FUNDING = Msg("펀딩까지 {left}", "funding in {left}")
POSITION_NO_FUNDING = Msg("펀딩 시각 모름", "funding n/a")
POSITION_SIZE = Msg("규모 {size} · {qty}", "size {size} · {qty}")
POSITION_ID = Msg("ID {id}", "id {id}")
POSITIONS_HEAD = Msg("보유 포지션 · {mode}", "Open positions · {mode}")

# ---- /pnl --------------------------------------------------------------------------------------
PNL_HEAD = Msg("💰 실현 손익 · {mode}", "💰 Realized P&L · {mode}")
PNL_TODAY = Msg("오늘 (KST): {krw} ({n}건 청산)", "today (KST): {krw} ({n} closed)")
PNL_TOTAL = Msg("누적: {krw} ({n}건 청산)", "total: {krw} ({n} closed)")
PNL_OPEN = Msg("보유 {n}개 (미실현은 /positions)", "open pairs: {n} (/positions for unrealized)")
PNL_OTHER = Msg("{mode} 기록 (따로 보관)\n  누적 {krw} ({n}건 청산)", "{mode} ledger (kept apart)\n  total {krw} ({n} closed)")
PNL_OTHER_UNREAD = Msg("{mode} 기록: 읽지 못함 ({why})", "{mode} ledger: not read ({why})")

# ---- /trades -----------------------------------------------------------------------------------
TRADES_BAD_N = Msg("/trades 뒤에는 1~30 사이 숫자 (예: /trades 5), {got} 아님.",
                   "/trades takes a number of trades, 1 to 30 (e.g. /trades 5), not {got}.")
NO_TRADES = Msg("아직 거래 없음 ({mode}).", "No trades yet ({mode}).")
TRADES_HEAD = Msg("📜 최근 거래 {n}건 · {mode}", "📜 Last {n} trades · {mode}")
TRADE_LINE = Msg("{time} {symbol} {dir} {action}\n  {status} · {size}", "{time} {symbol} {dir} {action}\n  {status} · {size}")

# ---- /balance ----------------------------------------------------------------------------------
BALANCE_HEAD = Msg("💼 잔고 · {mode}", "💼 Balances · {mode}")
BALANCE_UPBIT = Msg("업비트: {krw} 가능", "Upbit: {krw} free")
BALANCE_BINANCE = Msg("바이낸스: 증거금 {usdt} 가능", "Binance: {usdt} margin free")
BALANCE_COIN = Msg("  {qty}", "  {qty}")
BALANCE_PERP = Msg("  {coin} 무기한 {qty}", "  {coin}USDT perp {qty}")
BALANCE_UNKNOWN = Msg("잔고 모름 (조회 실패).", "Balances unknown (refresh failed).")

# ---- /pending and signals ----------------------------------------------------------------------
NO_PENDING = Msg("대기 중인 신호 없음.", "No signals waiting.")
PENDING_LINE = Msg("{id}: {symbol} {direction} {action}\n  {size} @ {premium} (z {z})\n  {left}초 남음",
                   "{id}: {symbol} {direction} {action}\n  {size} at {premium} (z {z})\n  {left} s left")
CONFIRM_USAGE = Msg("사용법: /confirm <신호 ID>", "usage: /confirm <signal id>")
SKIP_USAGE = Msg("사용법: /skip <신호 ID>", "usage: /skip <signal id>")
BLOCKED_NOT_RUNNING = Msg("매매 미실행 ({why})", "trading is not running ({why})")
BLOCKED_HALTED = Msg("긴급정지: 제안 안 함 (먼저 /resume)", "HALTED: not offered (/resume first)")
BLOCKED_STOPPED = Msg("정지됨: 제안 안 함 (먼저 /start)", "stopped: not offered (/start first)")
SIGNAL_TEXT = Msg("🔔 {symbol} {direction} {action}: {size} @ {premium} (z {z}), 목표 {target}",
                  "🔔 {symbol} {direction} {action}: {size} at {premium} (z {z}), target {target}")
EXECUTE = Msg("✅ 실행", "✅ Execute")
SKIP = Msg("✖️ 건너뛰기", "✖️ Skip")
UNKNOWN_SIGNAL = Msg("모르는 또는 지난 신호", "Unknown or old signal")
EXPIRED_NOTHING_SENT = Msg("이미 만료: 아무것도 보내지 않음", "Already expired: nothing sent")
EXPIRED = Msg("이미 만료", "Already expired")
EXPIRED_EDIT = Msg("⌛ 만료, 아무것도 보내지 않음.", "⌛ Expired, nothing sent.")
WHY_HALTED_RESUME = Msg("긴급정지 상태 (먼저 /resume)", "halted (/resume first)")
WHY_STOPPED_START = Msg("정지 상태 (먼저 /start)", "stopped (/start first)")
ENTRIES_BLOCKED = Msg("진입 불가, {why}: 아무것도 보내지 않음", "Entries are {why}: nothing sent")
SIGNAL_RESULT = Msg("{mark} {result} ({by})", "{mark} {result} (by {by})")
SKIPPED = Msg("건너뜀", "Skipped")

# ---- start / stop / halt / resume --------------------------------------------------------------
ENTRIES_ALLOWED = Msg("▶️ 신규 진입 허용{extra}.", "▶️ New entries allowed{extra}.")
BUT_HALTED = Msg(" (단, 긴급정지 중: /resume 으로 해제)", " (but HALTED: /resume lifts the halt)")
ENTRIES_PAUSED = Msg("⏸ 신규 진입 일시정지; 보유 포지션은 계속 관리·청산됩니다.",
                     "⏸ New entries paused; open positions are still managed and exited.")
HALT_REASON_CHAT = Msg("채팅의 /halt", "/halt from chat")
ORDERS_CANCELLED = Msg("미체결 주문 {n}건 취소", "cancelled {n} open order(s)")
NO_OPEN_ORDERS = Msg("미체결 주문 없음", "no open orders")
CANCEL_FAILED = Msg("주문 취소 실패: {error}", "cancelling orders failed: {error}")
CANCEL_BACKGROUND = Msg("미체결 주문을 백그라운드에서 취소 중", "cancelling open orders in the background")
HALTED_HEAD = Msg("🛑 긴급정지", "🛑 HALTED")
ALREADY_HALTED_HEAD = Msg("🛑 이미 긴급정지", "🛑 Already halted")
HALT_TEXT = Msg("{head}: 신규 진입 중단, {orders}. /resume 으로 해제.",
                "{head}: new entries stopped, {orders}. /resume lifts it.")
HALT_POSITIONS = Msg("보유 포지션 {n}개는 헤지 유지. 모두 청산할까요?",
                     "{n} open position(s) stay hedged. Close them all?")
CLOSE_ALL_BUTTON = Msg("{n}개 모두 청산…", "Close all {n} positions…")
HALT_BEFORE_TRADING = Msg("{head}: 매매가 시작돼도 신규 진입 없음 ({status}). /resume 으로 해제.",
                          "{head}: no new entries, also once trading starts ({status}). /resume lifts it.")
HALT_LIFTED_LATER = Msg("▶️ 긴급정지 해제: 매매가 시작되면 진입 허용.", "▶️ Halt lifted: entries allowed once trading starts.")
NOT_HALTED = Msg("긴급정지 상태가 아님.", "Not halted.")
STILL_HALTED_STORE = Msg("🛑 아직 정지: {why}. 쓰기가 성공하면 (디스크 확보) 저절로 풀립니다; 방금 다시 시도함.",
                         "🛑 Still halted: the {why}. It lifts by itself once a write succeeds (free disk space); "
                         "tried again just now.")
STORE_HALT_LIFTED = Msg("▶️ 기록 재개: 저장소 정지 해제, 신규 진입 허용.",
                        "▶️ The journal writes again: store halt lifted, new entries allowed.")
HALT_LIFTED = Msg("▶️ 긴급정지 해제: 신규 진입 허용{extra}.", "▶️ Halt lifted: new entries allowed{extra}.")
STILL_PAUSED = Msg(" (/stop 으로 일시정지 중: /start 로 허용)", " (entries are still paused by /stop: /start allows them)")

# ---- close all / forceexit / confirmations -----------------------------------------------------
NO_POSITIONS_TO_CLOSE = Msg("청산할 포지션 없음.", "No open positions to close.")
NO_POSITIONS_TOAST = Msg("포지션 없음", "No open positions")
CLOSE_ALL_ASK = Msg("⚠️ 보유 포지션 {n}개를 양 거래소에서 시장가로 모두 청산할까요? 되돌릴 수 없습니다.",
                    "⚠️ Close all {n} open position(s) at market on both exchanges? This cannot be undone.")
YES_CLOSE_ALL = Msg("예, 모두 청산", "Yes, close all")
CANCEL = Msg("취소", "Cancel")
CONFIRM_BELOW = Msg("아래에서 확인", "Confirm below")
UNKNOWN_CONFIRM = Msg("모르는 또는 지난 확인", "Unknown or old confirmation")
ACTION_CLOSE_ALL = Msg("전체 청산", "Close-all")
ACTION_SET_PARAM = Msg("설정 변경", "Parameter change")
ACTION_MODE = Msg("모드 전환", "Mode switch")
ACTION_FORCEEXIT = Msg("포지션 청산", "Force exit")
ACTION_RELOAD = Msg("전략 파일 다시 읽기", "Reload")
CONFIRM_EXPIRED_TOAST = Msg("만료: 다시 요청하세요", "Expired: ask again")
CONFIRM_EXPIRED = Msg("⌛ {what} 확인 시간 만료; 아무것도 안 함.", "⌛ {what} confirmation expired; nothing done.")
CANCELLED_TOAST = Msg("취소됨", "Cancelled")
CANCELLED = Msg("{what} 취소 ({by}); 아무것도 안 함.", "{what} cancelled by {by}; nothing done.")
CLOSING_TOAST = Msg("청산 중", "Closing")
CLOSE_ALL_DONE = Msg("전체 청산 ({by}): {summary}. 남은 포지션: {left}.",
                     "Close all by {by}: {summary}. Open positions left: {left}.")
NOTHING_TO_CLOSE = Msg("청산할 것 없음", "nothing to close")
FORCEEXIT_PICK = Msg("🎯 청산할 포지션을 고르세요\n(다음 단계에서 확인)", "🎯 Which position to close?\n(you confirm next)")
FORCEEXIT_BUTTON = Msg("{symbol} {direction} · {pnl}", "{symbol} {direction} · {pnl}")
FORCEEXIT_UNKNOWN = Msg("포지션 {arg} 없음. 보유: {ids}. /forceexit 만 입력하면 버튼으로 고릅니다.",
                        "No open position {arg}. Open: {ids}. /forceexit alone offers buttons.")
FORCEEXIT_AMBIGUOUS = Msg("{arg} 포지션이 여러 개: ID로 고르세요 ({ids}).", "Several {arg} positions: name one by id ({ids}).")
FORCEEXIT_ASK = Msg("⚠️ {symbol} {direction} ({id}) 를 양 거래소에서 시장가로 청산할까요?\n규모 {size} · 손익 {pnl}\n되돌릴 수 없습니다.",
                    "⚠️ Close {symbol} {direction} ({id}) at market on both exchanges?\nsize {size} · P&L {pnl}\n"
                    "This cannot be undone.")
YES_CLOSE = Msg("예, 청산", "Yes, close it")
FORCEEXIT_GONE = Msg("포지션 {id} 는 이미 없음; 아무것도 안 함.", "Position {id} is no longer open; nothing done.")
FORCEEXIT_BUSY = Msg("{symbol} 거래가 진행 중; 잠시 후 다시", "a {symbol} trade is in flight; try again in a moment")
FORCEEXIT_NO_PRICES = Msg("{symbol} 가격 없음 (또는 호가 부족); 청산 안 함", "no usable {symbol} prices (or the book is too thin); not closed")
FORCEEXIT_DONE = Msg("🎯 {symbol} {direction} ({id}) 청산 ({by}): {status}.{realized}",
                     "🎯 {symbol} {direction} ({id}) closed by {by}: {status}.{realized}")
FORCEEXIT_NOT_DONE = Msg("❌ {symbol} ({id}) 청산 안 됨: {why}", "❌ {symbol} ({id}) not closed: {why}")
REALIZED = Msg(" 실현 {krw}", " realized {krw}")

# ---- reconciliation findings -------------------------------------------------------------------
ADOPT = Msg("인수", "Adopt")
CLOSE = Msg("청산", "Close")
IGNORE = Msg("무시", "Ignore")
UNKNOWN_FINDING = Msg("모르는 발견 항목", "Unknown finding")
FINDING_NOTE_ADOPT = Msg("기록함; kimpbot이 인수할 것은 없음.", "recorded; nothing for kimpbot to take over here.")
FINDING_NOTE_CLOSE = Msg("기록함. 이 항목에 kimpbot은 주문을 보내지 않음: 거래소에서 직접 확인하세요 (거래소와 수량 참고).",
                         "recorded. kimpbot sends no orders for this finding: check it on the exchange by hand (it "
                         "names the venue and quantity).")
FINDING_NOTE_IGNORE = Msg("무시함 (기록됨); 다음 재시작 때 아직 있으면 다시 알립니다.",
                          "ignored (recorded); it is reported again at the next restart if it is still there.")
FINDING_NOT_DONE_TOAST = Msg("실행 안 됨", "Not done")
FINDING_NOT_DONE = Msg("🔎 {what} 실행 안 됨: {note}", "🔎 {what} not done: {note}")
FINDING_DONE = Msg("🔎 {text}\n→ {state} ({by}): {note}", "🔎 {text}\n→ {state} by {by}: {note}")
FINDING_STATE_TOAST = Msg("{state}", "{state}")

# ---- /params, /set -----------------------------------------------------------------------------
PARAMS_HEAD = Msg("⚙️ 전략 파일: {source}", "⚙️ strategy file: {source}")
PARAMS_OVERVIEW = Msg("{section}: {n}개, 기본값 {unset}", "{section}: {n} keys, {unset} unset")
PARAMS_PICK = Msg("섹션 버튼을 누르거나 /params 섹션", "a section button, or /params SECTION")
PARAMS_SECTION_HEAD = Msg("⚙️ [{section}] {page}", "⚙️ [{section}] {page}")
PARAMS_UNSET_MARK = Msg("* = 기본값 (소유자 미설정)", "* = default, unset by owner")
PARAMS_SET_HINT = Msg("/set 키 값 으로 변경 (확인 필요)", "/set KEY VALUE changes one (confirm)")
PARAMS_PENDING = Msg("  → 파일: {key} = {value}\n    (다음 시작부터)", "  (file: {key} = {value}\n   from the next start)")
PARAMS_UNKNOWN_SECTION = Msg("섹션 {section} 없음; 섹션: {sections}.", "No section {section}; sections: {sections}.")
SET_USAGE = Msg("사용법: /set 키 값, 예: /set zscore.exit_z 0.5 또는 /set stop_loss_pct off\n"
                "/params 에 키 목록. 확인 후 전략 파일에 기록됩니다.",
                "usage: /set KEY VALUE, e.g. /set zscore.exit_z 0.5 or /set stop_loss_pct off\n"
                "/params lists the keys. The change is written to the strategy file after you confirm it.")
ERROR = Msg("❌ {error}", "❌ {error}")
WHEN_NOW = Msg("즉시 적용", "takes effect at once")
WHEN_RESTART = Msg("다음 시작부터 적용", "takes effect at the next start")
WHEN_BACKTEST = Msg("다음 `kimpbot backtest` 에 사용", "used by the next `kimpbot backtest`")
NO_ENTRY = Msg("항목 없음", "no entry")
SET_ASK = Msg("⚙️ 소유자의 전략 파일을 바꿀까요?\n{key}: {old} ({status}) → {new}\n{path} 에 기록; {when}.{differs}",
              "⚙️ Change the owner's strategy file?\n{key}: {old} ({status}) → {new}\nwritten to {path}; {when}.{differs}")
SET_DIFFERS = Msg("\n(현재 적용값: {running}; 파일 값: {file}: {key} 만 바뀜)",
                  "\n(in force now: {running}; the file says {file}: only {key} changes)")
APPLY = Msg("적용", "Apply")
NOT_APPLIED_TOAST = Msg("적용 안 됨", "Not applied")
NOT_CHANGED = Msg("❌ {key} 변경 안 됨: {error}", "❌ {key} not changed: {error}")
IN_FORCE_NOW = Msg("즉시 적용됨", "in force now")
NOT_IN_FORCE = Msg("기록됨, 재시작 전까지 미적용 ({error})", "written, NOT in force until a restart ({error})")
IN_FORCE_NEXT_START = Msg("다음 시작부터 적용 (kimpbot 재시작)", "in force from the next start (restart kimpbot)")
USED_BY_BACKTEST = Msg("다음 `kimpbot backtest` 에 사용", "used by the next `kimpbot backtest`")
APPLIED_TOAST = Msg("적용됨", "Applied")
SET_DONE = Msg("⚙️ {key}: {old} → {new}\n✅ {by} 기록; {when}.", "⚙️ {key}: {old} → {new}\n✅ written by {by}; {when}.")

# ---- /reload -----------------------------------------------------------------------------------
RELOAD_INVALID = Msg("❌ 전략 파일이 유효하지 않아 아무것도 바꾸지 않음:\n{error}",
                     "❌ The strategy file is invalid; nothing changed:\n{error}")
RELOAD_SAME = Msg("전략 파일이 실행 중인 값과 같음:\n적용할 것 없음.", "The strategy file matches the\nrunning values: nothing to apply.")
RELOAD_ASK = Msg("🔁 전략 파일 변경 {n}건:", "🔁 Strategy file: {n} change(s):")
RELOAD_LINE = Msg("{key}\n  {old} → {new} · {when}", "{key}\n  {old} → {new} · {when}")
RELOAD_WHEN_NOW = Msg("즉시", "now")
RELOAD_WHEN_RESTART = Msg("재시작 후", "at restart")
RELOAD_WHEN_BACKTEST = Msg("백테스트", "backtest")
RELOAD_QUESTION = Msg("적용할까요?", "Apply them?")
RELOAD_UNSET = Msg("기본값", "default")
RELOAD_CHANGED_SINCE = Msg("❌ 확인 이후 파일이 다시 바뀜; 아무것도 안 함. 다시 /reload.",
                           "❌ The file changed again since; nothing done. /reload again.")
RELOAD_DONE = Msg("🔁 전략 파일 적용 ({by}): 즉시 {now}건, 재시작 후 {restart}건, 백테스트 {backtest}건.",
                  "🔁 Strategy file applied by {by}: {now} now, {restart} at the next start, {backtest} for backtests.")
RELOAD_FAILED = Msg("❌ 적용 안 됨: {error}", "❌ Not applied: {error}")

# ---- /logs, /version ---------------------------------------------------------------------------
LOGS_BAD_N = Msg("/logs 뒤에는 1~{max} 사이 숫자 (예: /logs 20), {got} 아님.",
                 "/logs takes a number of lines, 1 to {max} (e.g. /logs 20), not {got}.")
LOGS_HEAD = Msg("📄 최근 로그 {n}줄 ({source}, 민감정보 가림)", "📄 Last {n} log lines ({source}, redacted)")
LOGS_EMPTY = Msg("로그 없음 ({source}).", "No log lines yet ({source}).")
LOGS_SOURCE_FILE = Msg("파일", "file")
LOGS_SOURCE_MEMORY = Msg("메모리", "memory")
VERSION_HEAD = Msg("🏷 kimpbot 버전 {version}", "🏷 kimpbot {version}")
VERSION_COMMIT = Msg("커밋 {commit}", "commit {commit}")
VERSION_NO_COMMIT = Msg("커밋 정보 없음", "commit unknown")
VERSION_LIB = Msg("{name} {version}", "{name} {version}")

# ---- /mode switches ----------------------------------------------------------------------------
MODE_NOT_SWITCHING = Msg("❌ {mode} 로 전환 안 함: {why}.", "❌ Not switching to {mode}: {why}.")
WHY_SWITCH_IN_PROGRESS = Msg("이미 모드 전환 중", "a mode switch is already in progress")
WHY_NOT_TRADING = Msg("매매 미실행 (감시만)", "trading is not running (watching only)")
WHY_ALREADY_MODE = Msg("이미 {mode} 모드", "already in {mode} mode")
WHY_STORE = Msg("{why}: 먼저 디스크를 확보하세요", "the {why}: free disk space first")
WHY_LIVE_KEYS = Msg("실전에는 설정(.env)에 {keys} 필요, 그 후 재시작",
                    "live mode needs {keys} in the config (.env), then a restart")
WHY_LIVE_HALTED = Msg("긴급정지: 먼저 /resume (실전 시작이 모의 상태로 정지되지 않도록)",
                      "HALTED: /resume first, so the live start is not halted by paper state")
WHY_OPEN_POSITIONS = Msg("{mode} 포지션 {n}개가 열려 있어 더는 관리되지 않게 됨: 먼저 청산 (/closeall)",
                         "{n} {mode} position(s) are open and would no longer be managed: close them first (/closeall)")
WHY_IN_FLIGHT = Msg("거래 진행 중; 잠시 후 다시", "a trade is in flight; try again in a moment")
LIVE_CHECKS_FAILED = Msg("❌ 실전 전환 안 함: 점검 실패.", "❌ Not switching to live: the checks failed.")
CANARY_CAP = Msg("주문 상한 {krw} (risk.live_canary_max_krw)", "orders are capped at {krw} (risk.live_canary_max_krw)")
NO_CANARY = Msg("주문 상한 없음 (risk.live_canary_max_krw 꺼짐)", "NO order cap (risk.live_canary_max_krw is off)")
HOW_AUTO = Msg("자동 모드: 신호가 묻지 않고 실제 돈으로 거래", "AUTO trade mode: signals trade real money without asking")
HOW_CONFIRM = Msg("확인 모드: 신호마다 실행/건너뛰기를 먼저 물음", "confirm trade mode: each signal asks Execute / Skip first")
LIVE_ASK = Msg("🔴 실전 매매로 전환할까요? 내 키로 업비트·바이낸스에 실제 주문; {cap}; {how}. 실전 기록은 모의와 따로 보관. "
               "kimpbot 재시작 전까지 유지 (그 후 KIMPBOT_MODE 가 결정).",
               "🔴 Switch to LIVE trading? Real orders on Upbit and Binance with your keys; {cap}; {how}. "
               "Live records are kept apart from paper. Lasts until kimpbot restarts (then KIMPBOT_MODE decides).")
PAPER_ASK = Msg("모의 매매로 돌아갈까요? 이후 실제 주문 없음; 실전 기록은 보관됩니다.",
                "Switch back to PAPER trading? No real orders from then on; the live ledger is kept.")
YES_LIVE = Msg("예, 실전 매매", "Yes, trade LIVE")
YES_PAPER = Msg("예, 모의", "Yes, paper")
NOT_SWITCHED_TOAST = Msg("전환 안 됨", "Not switched")
NOT_SWITCHED = Msg("❌ {mode} 로 전환 안 됨: {why}.", "❌ Not switched to {mode}: {why}.")
SWITCH_FAILED_TOAST = Msg("전환 실패", "Switch failed")
SWITCH_FAILED = Msg("❌ {mode} 전환 실패 ({error}); 여전히 {now}.", "❌ Switch to {mode} failed ({error}); still {now}.")
NOW_MODE_TOAST = Msg("이제 {mode}", "{mode} now")
SWITCHED = Msg("{icon} 이제 {mode} 매매 ({by} 전환).", "{icon} {mode} trading now (switched by {by}).")

# ---- /dashboard --------------------------------------------------------------------------------
DASHBOARD_OFF = Msg("웹 대시보드 꺼짐 (KIMPBOT_HTTP_PORT=0 이거나 HTTP 서버가 시작되지 않음).",
                    "The web dashboard is off (KIMPBOT_HTTP_PORT=0, or the HTTP server did not start).")
DASHBOARD_PRIVATE_ONLY = Msg("🔒 로그인 링크는 봇과의 1:1 채팅에서만: 거기서 /dashboard 를 보내세요.",
                             "🔒 Login links only in a private chat with the bot: open it and send /dashboard there.")
DASHBOARD_LINK = Msg("🔑 대시보드 로그인 (1회용, {minutes}분 유효):\n{url}",
                     "🔑 Dashboard login (one use, valid {minutes} min):\n{url}")

# ---- /help -------------------------------------------------------------------------------------
HELP_HEAD = Msg("kimpbot 명령어", "kimpbot commands")
HELP_GROUP_VIEW = Msg("📊 보기", "📊 View")
HELP_GROUP_REPORTS = Msg("📈 리포트", "📈 Reports")
HELP_GROUP_CONTROL = Msg("🕹 제어", "🕹 Control")
HELP_GROUP_SETUP = Msg("⚙️ 설정", "⚙️ Setup")
HELP_GROUP_OTHER = Msg("ℹ️ 기타", "ℹ️ Other")
ARG_SYMBOL = Msg("코인", "SYM")
ARG_PERIOD = Msg("[1d|7d|20d]", "[1d|7d|20d]")
ARG_POSITION = Msg("[포지션]", "[POSITION]")
ARG_N = Msg("[n]", "[n]")
ARG_ID = Msg("ID", "ID")
ARG_KEY_VALUE = Msg("키 값", "KEY VALUE")
ARG_KIND_LEVEL = Msg("[종류 수준]", "[KIND LEVEL]")

# ---- console -----------------------------------------------------------------------------------
CONSOLE_YES_NO = Msg("확인은 /yes, 취소는 /no", "type /yes to confirm, /no to cancel")
CONSOLE_CHART = Msg("(차트: PNG {n}바이트; 차트는 채팅에서 보세요)", "(chart: {n} bytes PNG; charts are for the chat front ends)")
CONSOLE_STOPPING = Msg("종료 중", "stopping")

register_area("chat", globals())
