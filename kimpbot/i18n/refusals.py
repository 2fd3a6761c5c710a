"""Why a signal was not traded: the pre-trade risk checks' reasons (kimpbot/risk.py) and the
trader's own. Each names the rule, the value and the limit. They are used as
:class:`~kimpbot.i18n.Said` strings: English where code matches or logs them, the owner's
language in the chat."""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

HALTED = Msg("중단됨: {reason} ({by}); /resume 으로 해제", "halted: {reason} (by {by}); /resume lifts it")
PAUSED = Msg("진입 일시정지 (/stop); /start 로 허용", "entries paused (/stop); /start allows them")
DATA = Msg("데이터 신선도: {problem}", "data freshness: {problem}")
MAX_POSITIONS = Msg("최대 동시 포지션: {n}개 보유, 한도 risk.max_concurrent_positions {limit}",
                    "max concurrent positions: {n} open, limit risk.max_concurrent_positions {limit}")
MAX_SINGLE = Msg("단일 포지션 한도: 진입 후 {after:,.0f}원, 한도 {share:g} × {cap:,.0f} = {most:,.0f}원",
                 "max single position: {after:,.0f} KRW after this entry, limit {share:g} x {cap:,.0f} = "
                 "{most:,.0f} KRW")
ALLOCATION = Msg("자본 배분: {coin}에 {after:,.0f}원, 한도 {cap:,.0f}원",
                 "capital allocation: {after:,.0f} KRW in {coin}, limit {cap:,.0f} KRW")
THIN_BOOK = Msg("호가 부족: {size:,.0f}원을 체결할 가격 없음", "book too thin: no executable price for {size:,.0f} KRW")
MIN_SIZE = Msg("최소 수량: {qty:.8f} {coin}, 바이낸스 단위로 {rounded}, 최소 {least} (단위 {step})",
               "minimum size: {qty:.8f} {coin} rounds to {rounded} on Binance, minimum {least} (step {step})")
MIN_NOTIONAL_BINANCE = Msg("최소 주문액: 바이낸스 {usdt:,.2f} USDT, 최소 {least} USDT ({least_krw:,.0f}원)",
                           "minimum notional: {usdt:,.2f} USDT on Binance, minimum {least} USDT "
                           "({least_krw:,.0f} KRW)")
MIN_NOTIONAL_UPBIT = Msg("최소 주문액: 업비트 {size:,.0f}원, 최소 {least:,.0f}원",
                         "minimum notional: {size:,.0f} KRW on Upbit, minimum {least:,.0f} KRW")
CANARY = Msg("실거래 시험 한도: 주문 {size:,.0f}원, 한도 risk.live_canary_max_krw {limit:,.0f}원",
             "live canary: order {size:,.0f} KRW, limit risk.live_canary_max_krw {limit:,.0f} KRW")
KRW_BALANCE = Msg("업비트 원화 잔고: 가용 {have:,.0f}원, 필요 {need:,.0f}원",
                  "Upbit KRW balance: {have:,.0f} KRW free, need {need:,.0f} KRW")
INVENTORY = Msg("김프 숏 진입용 업비트 {coin} 보유량: {have:.8f} {coin} 보유, 필요 {need:.8f} {coin} "
                "(보유 코인 매도 + 무기한 선물 롱; 보유량 없이는 진입 불가)",
                "Upbit {coin} inventory for a short-premium entry: {have:.8f} {coin} held, need {need:.8f} {coin} "
                "(sell held coin + long perp; without inventory this entry cannot be made)")
MARGIN = Msg("바이낸스 USDT 증거금: 가용 {free:,.2f} USDT, 필요 {need:,.2f} USDT ({leverage:g}배)",
             "Binance USDT margin: {free:,.2f} USDT free, need {need:,.2f} USDT at {leverage:g}x")
FUNDING_GUARD = Msg("펀딩 가드: 다음 펀딩까지 {minutes:.0f}분, 한도 risk.funding_guard_minutes {limit:g}",
                    "funding guard: next funding in {minutes:.0f} min, limit risk.funding_guard_minutes {limit:g}")
# the trader's own
HALTED_OFFER = Msg("중단됨: {reason}", "halted: {reason}")       # a signal not offered while halted
PAUSED_OFFER = Msg("진입 일시정지 (/stop)", "entries paused (/stop)")
POSITION_NOT_OPEN = Msg("포지션 {position}이(가) 열려 있지 않음", "position {position} is not open")
THIN_FOR_SIZE = Msg("신호 규모에 비해 호가 부족", "book too thin for the signal's size")
ADOPTED_PERP = Msg("바이낸스 {coin}에 페어 밖에서 인수한 {adopted:+g} 포지션이 있음: 부호가 반대인 선물 레그는 "
                   "단방향 모드에서 상계되어 청산할 수 없음",
                   "Binance {coin} carries an adopted {adopted:+g} outside the pairs; a perp leg of the other sign "
                   "would net against it in one-way mode and its exit could not close")

register_area("refusals", globals())
