"""The dashboard's texts (served pages and the page script's table), in the one catalogue.

The page script looks texts up by the lower-case name (``login_btn``); placeholders such as
``{who}`` are filled in by the server or the script, so :func:`texts` hands over the templates."""

from __future__ import annotations

from kimpbot.i18n import REGISTRY, LANGS, Msg, register_area

TITLE = Msg("kimpbot", "kimpbot")
LOGIN_NEEDED_H = Msg("대시보드 로그인", "Log in to the dashboard")
LOGIN_NEEDED = Msg(
    "텔레그램(개인 대화) 또는 디스코드에서 봇에게 /dashboard 를 보내세요. 10분 동안 한 번만 쓸 수 있는 로그인 링크를 보내 드립니다. 세션 없이는 시세, 포지션, 잔고를 보여주지 않습니다.",
    "Send /dashboard to the bot in Telegram (a private chat) or Discord. It answers with a one-time login link, valid for 10 minutes. No market, position or balance data is shown without a session.",
)
LOGIN_H = Msg("kimpbot 로그인", "Log in to kimpbot")
LOGIN_AS = Msg(
    "이 링크는 이 브라우저를 {who} 로 로그인합니다. 한 번만 쓸 수 있습니다.",
    "This link logs this browser in as {who}. It works once.",
)
LOGIN_BTN = Msg("로그인", "Log in")
LOGIN_BAD = Msg(
    "유효하지 않은 로그인 링크입니다. /dashboard 를 다시 보내 새 링크를 받으세요.",
    "This login link is not valid. Send /dashboard again for a new one.",
)
LOGIN_USED = Msg(
    "이미 사용된 로그인 링크입니다. /dashboard 를 다시 보내 새 링크를 받으세요.",
    "This login link was already used. Send /dashboard again for a new one.",
)
LOGIN_EXPIRED = Msg(
    "로그인 링크가 만료되었습니다(유효 10분). /dashboard 를 다시 보내세요.",
    "This login link has expired (links last 10 minutes). Send /dashboard again.",
)
LOGIN_SLOW = Msg(
    "로그인 시도가 너무 많습니다. 1분 뒤에 다시 시도하세요.",
    "Too many login attempts. Wait a minute and try again.",
)
LOGOUT = Msg("로그아웃", "Log out")
LOGGED_OUT = Msg("로그아웃되었습니다.", "Logged out.")
PREMIUM = Msg("김프", "Premium")
QUOTED = Msg("시세", "quoted")
EXEC_LONG = Msg("진입(롱)", "exec long")
EXEC_SHORT = Msg("진입(숏)", "exec short")
Z = Msg("z", "z")
DATA_FRESH = Msg("정상", "fresh")
DATA_STALE = Msg("지연", "stale")
DATA_FX = Msg("환율 의심", "FX suspect")
DATA_WARMING = Msg("z 준비 중", "z warming up")
DATA_WAITING = Msg("대기", "waiting")
BOT = Msg("봇", "Bot")
PAPER = Msg("모의", "PAPER")
LIVE = Msg("실전", "LIVE")
AUTO = Msg("자동", "auto")
CONFIRM = Msg("확인", "confirm")
RUNNING = Msg("가동 중", "running")
STOPPED = Msg("정지(신규 진입 없음)", "stopped (no new entries)")
HALTED = Msg("긴급 정지", "HALTED")
WATCHING = Msg("관찰만", "watching only")
HALT_BTN = Msg("긴급 정지", "HALT")
RESUME_BTN = Msg("재개", "Resume")
HALT_ASK = Msg("지금 신규 진입을 멈추고 미체결 주문을 취소할까요?", "Halt new entries now and cancel open orders?")
POSITIONS = Msg("보유 포지션", "Open positions")
NO_POSITIONS = Msg("보유 포지션이 없습니다.", "No open positions.")
PNL = Msg("손익 (원)", "P&L (KRW)")
TODAY = Msg("오늘 (KST)", "today (KST)")
TOTAL = Msg("누적", "total")
UNREALIZED = Msg("평가", "unrealized")
TRADES = Msg("최근 거래", "Last trades")
NO_TRADES = Msg("거래가 아직 없습니다.", "No trades yet.")
PENDING = Msg("대기 중인 신호", "Signals waiting")
NO_PENDING = Msg("대기 중인 신호가 없습니다.", "No signals waiting.")
EXECUTE = Msg("실행", "Execute")
SKIP = Msg("건너뛰기", "Skip")
LEFT = Msg("{s}초 남음", "{s} s left")
CHART = Msg("오늘의 김프(%)와 ±{z} 밴드", "Today's premium (%) with ±{z} bands")
FX = Msg("환율", "FX")
CONN_LIVE = Msg("실시간", "live")
CONN_OLD = Msg("데이터가 {s}초 지났습니다: 다시 연결 중…", "data is {s} s old: reconnecting…")
CONN_DOWN = Msg("연결 끊김: 다시 연결 중…", "connection lost: reconnecting…")
UPDATED = Msg("갱신", "updated")
SESSION_OVER = Msg(
    "세션이 끝났습니다. 채팅에서 /dashboard 로 새 링크를 받으세요.",
    "Session ended. Send /dashboard in the chat for a new link.",
)
THEME = Msg("테마", "Theme")
BY = Msg("요청자", "by")
ENTRY = Msg("진입", "entry")
NOW = Msg("현재", "now")
SIZE = Msg("규모", "size")
AGE = Msg("경과", "age")
NOT_RUN = Msg("실행 안 함", "not run")
DIR_LONG_PREMIUM = Msg("김프 롱", "long premium")
DIR_SHORT_PREMIUM = Msg("김프 숏", "short premium")
ACT_ENTER = Msg("진입", "enter")
ACT_ADD = Msg("추가", "add")
ACT_EXIT = Msg("청산", "exit")


register_area("web", globals())


def texts(lang: str) -> dict[str, str]:
    """Every dashboard template in ``lang`` (ko when unknown), keyed as the page script asks."""
    use = lang if lang in LANGS else "ko"
    return {
        k.split(".", 1)[1].lower(): (m.ko if use == "ko" else m.en)
        for k, m in REGISTRY.items()
        if k.startswith("web.")
    }


def t(lang: str, key: str, **kw: object) -> str:
    m = REGISTRY.get(f"web.{key.upper()}")
    if m is None:
        return key
    s = m.ko if lang == "ko" else m.en
    return s.format(**kw) if kw else s
