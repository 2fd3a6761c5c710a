"""What the trading side publishes on the bus (fills, rollbacks, halts, signals, the start banner).

Every ``Event(...)`` of the product takes its message from here: ``Event(kind, ENTRY(...), level, data)``.
The English rendering is the event's ``message`` (logs, journal, tests) and stays close to the words
the log always had; Korean is what the owner's phone shows. Numbers are passed as display values of
:mod:`kimpbot.i18n.units` (quantity to the venue's step, price to the tick, fees with their currency,
won with separators), so both languages read them right.

Reasons that come from an exchange (its error text) or from a rule's own wording are passed in as
they are: they name the exchange's code, which the owner searches for.
"""

from __future__ import annotations

from typing import Any

from kimpbot.i18n import Msg, Text, register_area

# ---- words ------------------------------------------------------------------------------------

LONG_PREMIUM = Msg("김프 롱", "long premium")
SHORT_PREMIUM = Msg("김프 숏", "short premium")
ENTER = Msg("진입", "enter")
ADD = Msg("추가 진입", "add")
EXIT = Msg("청산", "exit")
ENTRY = Msg("진입", "entry")
FILLED = Msg("체결", "filled")
PARTLY_FILLED = Msg("일부 체결", "partly filled")
PARTIAL = Msg("부분 체결", "partial")
REJECTED = Msg("거부", "rejected")
NOT_FOUND = Msg("없음", "not_found")
UNKNOWN = Msg("응답 없음", "unknown")
CLOSED = Msg("청산 완료", "closed")
PARTLY_CLOSED = Msg("일부 청산 ({done} / {total})", "partly closed ({done} of {total})")
AUTO = Msg("자동 거래", "auto trading")
CONFIRM = Msg("확인 후 거래", "confirm trading")
NOT_TRADING_YET = Msg("아직 거래 안 함", "NOT TRADING yet")
WATCHING_ONLY = Msg("시세 관찰만", "watching only")

# ---- legs and pair trades (executor) ------------------------------------------------------------

LEG_FILL = Msg("{coin} {venue} {side} {filled}/{qty} @ {price} ({status}, 수수료 {fee})",
               "{coin} {venue} {side} {filled}/{qty} @ {price} ({status}, fee {fee})")
TRADE_FILLED = Msg(
    "{coin} {direction} {action} {state}\n"
    "업비트 {uside} {uqty}\n"
    "  @ {uprice}\n"
    "바이낸스 {bside} {bqty}\n"
    "  @ {bprice}\n"
    "김프 {premium} (신호 {expected})\n"
    "목표 {target}\n"
    "수수료 {ufee} + {bfee}",
    "{coin} {direction} {action} {state}: Upbit {uside} {uqty} @ {uprice}, Binance {bside} {bqty} @ {bprice}, "
    "premium {premium} (signal {expected}), target {target}, fees {ufee} + {bfee}")
EXIT_DONE = Msg(
    "{coin} {direction} {verb}\n"
    "업비트 {uside} {uqty}\n"
    "  @ {uprice}\n"
    "바이낸스 {bside} {bqty}\n"
    "  @ {bprice}\n"
    "실현 손익 {pnl}",
    "{coin} {direction} exit {verb}: Upbit {uside} {uqty} @ {uprice}, Binance {bside} {bqty} @ {bprice}, "
    "realized {pnl}")
TRADE_FAILED_HEAD = Msg("{coin} {direction} {action} 실패", "{coin} {direction} {action} failed")
EXIT_FAILED_HEAD = Msg("{coin} 청산 실패", "{coin} exit failed")
TRADE_FAILED = Msg("{head}{tail}\n원인: {why}", "{head} ({why}){tail}")
TAIL_UNWOUND = Msg("\n되돌림 비용 {cost}\n(수수료 {fees}, 가격 변동 {move})",
                   "; unwound, cost {cost} (fees {fees} for the entry and its unwind, price move {move})")
TAIL_NOTHING_FILLED = Msg(" — 체결 없음", "; nothing filled")
TAIL_EXIT_STAYS = Msg("\n포지션은 헤지된 채 유지", "; the position stays open and hedged")
TAIL_EXIT_REVERSED = Msg("\n포지션은 헤지된 채 유지 (되돌림 비용 {cost})",
                         "; the position stays open and hedged (legs reversed, cost {cost})")
UNWIND = Msg("{coin} {venue} 되돌림: {side} {qty} → {status} {filled}{at}{err}",
             "{coin} unwind on {venue}: {side} {qty} -> {status} {filled}{at}{err}")
AT_PRICE = Msg(" @ {price}", " @ {price}")
EXPOSURE = Msg("헤지 안 됨 {coin}: {what} (거래 {trade_id}); 신규 진입 중단{tail}",
               "UNHEDGED {coin}: {what} (trade {trade_id}); new entries halted{tail}")
EXPOSURE_NO_JOURNAL = Msg(
    "\n기록(저널)을 쓸 수 없어 되돌림 주문을 보내지 않았습니다. 저널이 다시 써지면 바로 되돌립니다",
    "; the journal cannot be written, so no unwind was sent (an unjournaled one would be sent again after a "
    "restart): kimpbot unwinds it as soon as the journal writes again")
LATE_FILL = Msg(
    "헤지 안 됨 — 늦은 체결: {coin} {venue} {side} {qty} @ {price}\n"
    "(주문 {cid}, 거래 {trade_id}의 {kind}) 거래 정산 뒤에 거래소가 체결함{tail}",
    "UNHEDGED late fill: {coin} {venue} {side} {qty} @ {price} (order {cid}, {kind} of trade {trade_id}) was "
    "booked by the exchange after the trade was settled without it{tail}")
LATE_TAIL_UNWIND = Msg("\n되돌림 주문이었음: 포지션 점검 결과를 확인하세요", "; it was an unwind: check the position findings")
LATE_TAIL_UNTRADED = Msg("\n{coin}은(는) 지금 거래 종목이 아님 (전략 파일의 symbols): 직접 정리하세요",
                         "; {coin} is not traded now (symbols in the strategy file): close it by hand")
LATE_TAIL_REVERSING = Msg("\n지금 되돌립니다", "; reversing it now")
LATE_NOT_REVERSED = Msg(
    "{coin} {venue} {side} {qty} (늦은 체결 {cid}) 아직 되돌리지 못함: 저널을 쓸 수 없음. 다시 써지면 바로 되돌립니다",
    "{coin} {venue} {side} {qty} (late fill of {cid}) NOT reversed yet: the journal cannot be written; kimpbot "
    "reverses it as soon as it writes again")
WATCH_FAILED = Msg("주문 {cid}: 늦은 체결 감시 실패 ({err}); 열린 주문으로 두고 1분마다 다시 확인",
                   "order {cid}: watching it for a late booking failed ({err}); it stays open and is re-checked "
                   "every minute")
LATE_NOTHING = Msg("{coin} {venue} 주문 {cid}: {status}, 체결 없음 — {coin} 주문 다시 가능",
                   "{coin} {venue} order {cid} came back {status} with nothing filled; {coin} orders may go out again")
NEVER_PLACED = Msg("{coin} {venue} 주문 {cid}: 보낸 지 {age}초가 지나도 거래소에 없음 — 접수 안 된 것으로 처리, {coin} 주문 다시 가능",
                   "{coin} {venue} order {cid}: still unknown to the exchange {age} s after it was sent; taken as "
                   "never placed; {coin} orders may go out again")
NO_ANSWER = Msg("{coin} {venue} 주문 {cid} ({side} {qty}): 거래소가 {age}초째 상태를 답하지 않음 ({err}); 계속 묻는 중, "
                "그동안 {coin} 주문은 나가지 않음",
                "{coin} {venue} order {cid} ({side} {qty}): the exchange has not answered its state for {age} s "
                "({err}); still asking; no {coin} order goes out meanwhile")
NOT_SENT = Msg("{coin} {action} 주문 안 보냄: {why}", "{coin} {action} not sent: {why}")
UNBOOKED = Msg("{coin} {action} {trade_id}: 주문은 나갔지만 저널을 쓸 수 없어 아직 장부에 없음 ({note}). "
               "저널이 다시 써지면 거래소 응답으로 기록합니다",
               "{coin} {action} {trade_id}: sent, but the journal cannot be written, so it is not booked yet ({note}). "
               "It is booked from the exchanges' answers as soon as the journal writes again.")
NO_UNHEDGED_NAMED = Msg("헤지 안 된 다리 없음", "no unhedged leg named")

# ---- signals (trader) ---------------------------------------------------------------------------

SIGNAL = Msg(
    "{coin} {direction} {action} 신호\n"
    "김프 {premium} · z {z}\n"
    "규모 {size} · 목표 {target}\n"
    "{secs}초 안에 실행/건너뛰기\n"
    "근거: {reason}",
    "{coin} {direction} {action} signal: {reason}. Size {size}, executable premium {premium}, z {z}, "
    "target {target}. Execute or Skip within {secs} s.")
SIGNAL_EXPIRED = Msg("{coin} 신호 {pid} 시간 초과 — 주문 없음. {note}",
                     "{coin} signal {pid} expired unconfirmed. {note}")
SKIPPED = Msg("{coin} {action} 건너뜀", "skipped {coin} {action}")
SKIP_ANSWER = Msg("건너뜀. {note}", "Skipped. {note}")
SKIP_NOTE = Msg("다시 알리지 않음: |z|가 기준({threshold}) 안으로 돌아오거나 더 깊은 단계가 되면 다시 알림",
                "Not offered again until |z| is back inside the threshold ({threshold}) or a deeper tier is reached")
SKIP_NOTE_EXIT = Msg("다시 알리지 않음: 청산 조건이 풀렸다가 다시 오거나 더 급한 청산(손절 등)이 되면 다시 알림",
                     "Not offered again until the exit condition resets or escalates (e.g. stop loss)")
REFUSED = Msg("{coin} {direction} {action} 거부: {why}", "{coin} {direction} {action} refused: {why}")
UNFILLABLE = Msg("체결될 수 없는 규모: {problem} (전략 파일의 자본/규모)",
                 "sizes that cannot fill: {problem} (capital / sizes in the strategy file)")
HALTED_SINCE = Msg("중단 상태 ({since}부터, {by}): {reason}; /resume 으로 해제",
                   "HALTED (since {since}, by {by}): {reason}; /resume lifts it")
HALTED_BY = Msg("중단 상태 ({by}): {reason}; /resume 으로 해제", "HALTED (by {by}): {reason}; /resume lifts it")
TASK_FAILED = Msg("거래 작업 실패: {err}", "trading task failed: {err}")
EXIT_INCOMPLETE = Msg("{coin} 포지션 {pid} 청산 미완료 ({status}, {attempt}번째 시도); {wait} 뒤 다시 시도",
                      "{coin} exit of position {pid} did not complete ({status}, attempt {attempt}); next try in {wait}")
HALT_CANCEL_FAILED = Msg("중단: {venue} 미체결 주문 취소 실패: {err}",
                         "halt: cancelling open orders on {venue} failed: {err}")
CLOSEALL_NO_PRICES = Msg("전체 청산: {coin} 시세 없음 — 열린 채로 둠", "close all: no prices for {coin}; left open")
CLOSEALL_THIN = Msg("전체 청산: {coin} 호가가 얇음 — 열린 채로 둠", "close all: book too thin for {coin}; left open")
RECONCILE_RESTART = Msg("재시작 점검:\n- {findings}", "restart reconciliation:\n- {findings}")
RECONCILE_RECOVERED = Msg("저널 다시 쓰기 가능, 정산함:\n- {findings}", "journal writable again, settled:\n- {findings}")
RECONCILE_RECHECK = Msg("주문 재확인:\n- {findings}", "order re-check:\n- {findings}")
POSITION_MISMATCH = Msg("포지션 점검: {coin} 장부와 거래소가 다름",
                        "position check: the journal and the exchanges disagree on {coin}")
RECONCILE_CLOSE_TEXT = Msg("바이낸스 {coin}: {side} {filled}{of} 시장가 감소 전용 ({status}{avg})",
                           "Binance {coin}: {side} {filled}{of} reduce-only at market ({status}{avg})")
RC_OF = Msg(" / {qty}", " of {qty}")
RC_AVG = Msg(", 평균 {price}", ", avg {price}")
RECONCILE_CLOSE = Msg("{by}의 점검 청산: {text}", "reconcile close by {by}: {text}")
RECONCILE_CLOSE_PENDING = Msg("{by}의 점검 청산: {text}; 매분 상태를 다시 확인",
                              "reconcile close by {by}: {text}; its state is checked again every minute")
FUNDING = Msg("{coin} 펀딩비 기록: {amount} ({n}건)", "{coin} funding booked: {amount} ({n} payment(s))")

# ---- halts, risk, protections, journal ------------------------------------------------------------

HALTED = Msg("중단: {reason}. 신규 진입 멈춤; /resume 으로 해제", "HALTED: {reason}. New entries stop; /resume lifts it.")
HALTED_PRESTART = Msg("중단: {reason}. 신규 진입 멈춤 (거래 시작 후에도); /resume 으로 해제",
                      "HALTED: {reason}. New entries stop, also once trading starts; /resume lifts it.")
RESUMED = Msg("{by}이(가) 재개: 신규 진입 다시 허용", "resumed by {by}: new entries allowed again")
COOLDOWN_LIFTED = Msg("{by}이(가) 쿨다운 해제: 신규 진입 다시 허용", "cooldown lifted by {by}: new entries allowed again")
COOLDOWN = Msg("{text}. /resume 으로 먼저 해제 가능", "{text}. /resume lifts it early.")
JOURNAL_FAILED = Msg(
    "🛑 저널 쓰기 실패: {err}\n신규 진입 중단(저장소). 기록되지 않은 주문은 보내지 않으므로 청산·되돌림도 대기. "
    "열린 포지션은 그대로(알림에 다리가 나오지 않았다면 헤지됨). 시세와 채팅은 계속 동작. "
    "{probe}초마다 다시 시도하고 쓰기가 되면 스스로 재개; 그동안 {reminder}분마다 다시 알림.",
    "🛑 JOURNAL WRITE FAILED: {err}\nNew entries are HALTED (halt kind: store); exits and unwinds wait too, "
    "because nothing is sent that is not journaled first. Open positions stay as they are (hedged unless an "
    "alert named a leg). Market data and chat keep working. kimpbot retries every {probe} s and resumes by "
    "itself when writes succeed; a reminder follows every {reminder} min meanwhile.")
JOURNAL_STILL = Msg("⚠️ 아직 중단: 저널을 {mins}분째 쓸 수 없음 ({err}). 그동안 거래 판단 {skipped}건 건너뜀; "
                    "디스크를 비우면 스스로 재개",
                    "⚠️ still HALTED: the journal cannot be written for {mins} min ({err}). {skipped} trading "
                    "decision(s) skipped meanwhile; free disk space and kimpbot resumes by itself.")
JOURNAL_RECOVERING = Msg("복구 중", "recovering")
JOURNAL_OK = Msg("✅ 저널 다시 쓰기 가능 ({mins}분 중단, 거래 판단 {skipped}건 건너뜀): 중단된 거래 정산 완료, 신규 진입 다시 허용",
                 "✅ the journal writes again (halted {mins} min, {skipped} trading decision(s) skipped): "
                 "interrupted trades were settled, entries allowed again.")

# ---- market data, FX ---------------------------------------------------------------------------

FX_NOTE = Msg("환율: {note}", "{note}")
FX_CAVEAT = Msg("환율: {note}", "FX: {note}")
HEALTH_STOPPED = Msg("{coin}: 신호 중지 — {problems}", "{coin}: signals stopped: {problems}")
HEALTH_OK = Msg("{coin}: 데이터 정상, 신호 다시 허용", "{coin}: data healthy again, signals allowed")

# ---- engine: start, trading state, mode ------------------------------------------------------------

BANNER = Msg("kimpbot 시작\n{mode} · {trade}\n종목 {symbols}\n전략 {strategy}{unset}{notes}",
             "kimpbot started\n{mode} mode, {trade}\nsymbols {symbols}\nstrategy {strategy}{unset}{notes}")
BANNER_UNSET = Msg("\n미설정 키 {n}개 — /params", "\n{n} keys unset by owner — /params")
NOT_TRADING = Msg("거래 안 함: {why}. kimpbot은 켜진 채 스스로 다시 시도 (최대 {cap}초 간격); /status 로 상태 확인, "
                  "/halt 는 지금도 동작.",
                  "NOT TRADING: {why}. kimpbot stays up and tries again by itself (back-off up to {cap} s); /status "
                  "shows the state, /halt works now.")
TRADING_AGAIN = Msg("다시 거래: 거래소 응답, 시작 완료.\n{banner}",
                    "Trading again: the exchanges answer, start-up finished.\n{banner}")
OTHER_LEDGER = Msg("{other} 장부에 이 {mode} 실행이 관리하지 않는 {what}이(가) 있음 (청산·점검 없음): "
                   "KIMPBOT_MODE={other_low} 로 재시작 (또는 /{other_low})",
                   "the {other} ledger has {what} that this {mode} run does not manage (no exits, no "
                   "reconciliation): restart with KIMPBOT_MODE={other_low} (or /{other_low}) to manage them")
LEDGER_WHAT = Msg("열린 포지션 {n}개", "{n} open position(s)")
LEDGER_WHAT_ORDERS = Msg("열린 포지션 {n}개, 응답 없는 주문 {m}개", "{n} open position(s) and {m} unanswered order(s)")
SWITCH_BOTH_FAILED = Msg("{mode} 전환 실패 ({err}), {old} 복원도 실패 ({err2}): 거래 안 함; {old} 로 스스로 다시 시도",
                         "switch to {mode} failed ({err}) and restoring {old} failed too ({err2}): NOT TRADING; "
                         "kimpbot tries {old} again by itself")
SWITCH_FAILED = Msg("{mode} 전환 실패 ({err}); 여전히 {old}", "switch to {mode} failed ({err}); still {old}")
MODE_LIVE = Msg("지금부터 실전 거래 ({by} 전환). 업비트·바이낸스에 실제 주문; 실전 기록은 모의와 따로 보관. "
                "재시작하면 설정의 KIMPBOT_MODE 로 돌아감.",
                "LIVE trading now (switched by {by}). Real orders on Upbit and Binance; live records kept apart from "
                "paper. A restart goes back to KIMPBOT_MODE from the config.")
MODE_PAPER = Msg("지금부터 모의 거래 ({by} 전환). 모의 장부; 실제 주문 없음. 재시작하면 설정의 KIMPBOT_MODE 로 돌아감.",
                 "PAPER trading now (switched by {by}). Paper ledger; no real orders. A restart goes back to "
                 "KIMPBOT_MODE from the config.")
FATAL_STOPPED = Msg("kimpbot 멈춤: {text}. 재시작 안 함 (종료 코드 78): 고친 뒤 다시 시작하세요.",
                    "kimpbot stopped: {text}. Not restarting (exit 78): fix it, then start kimpbot again.")


# ---- helpers (words chosen from values) -----------------------------------------------------------

def direction(d: Any) -> Text:
    """A Direction (or its value) as the owner reads it."""
    v = getattr(d, "value", d)
    return (LONG_PREMIUM if v == "long_premium" else SHORT_PREMIUM)()


def action(a: str) -> Text | str:
    m = {"enter": ENTER, "add": ADD, "exit": EXIT, "entry": ENTRY}.get(a)
    return m() if m is not None else a


def status(s: str) -> Text | str:
    """An order status word (OrderStatus.value)."""
    m = {"filled": FILLED, "partial": PARTIAL, "rejected": REJECTED, "not_found": NOT_FOUND,
         "unknown": UNKNOWN}.get(s)
    return m() if m is not None else s


register_area("events", globals())
