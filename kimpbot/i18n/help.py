"""One line per command: /help, Telegram's command menu (setMyCommands, 3–256 characters) and
Discord's slash command descriptions (1–100 characters) all read these."""

from __future__ import annotations

from kimpbot.i18n import Msg, register_area

STATUS = Msg("모드·실행 상태·데이터·환율·김프·z", "mode, running/halted, data, FX, premium, z")
POSITIONS = Msg("보유 포지션: 진입/현재 김프, 손익", "open pairs: entry/now premium, size, P&L")
PNL = Msg("실현 손익 (오늘 KST, 누적)", "realized P&L today (KST) and in total")
TRADES = Msg("최근 거래", "last trades")
BALANCE = Msg("업비트·바이낸스 잔고", "Upbit and Binance balances")
PARAMS = Msg("전략 숫자 (소유자 설정/기본값)", "strategy numbers (owner set or default)")
CHART = Msg("김프·z 차트 (코인, 기간)", "premium and z chart (coin, period)")
PENDING = Msg("실행/건너뛰기를 기다리는 신호", "signals waiting for Execute / Skip")
START = Msg("신규 진입 허용", "allow new entries")
STOP = Msg("신규 진입 일시정지", "pause new entries")
HALT = Msg("즉시 정지: 진입 중단, 주문 취소", "stop entries now, cancel orders")
RESUME = Msg("정지 해제", "lift a halt")
CLOSEALL = Msg("모든 포지션 청산 (확인 필요)", "close every position (asks to confirm)")
CONFIRM = Msg("대기 신호 실행 (ID)", "execute a pending signal (id)")
SKIP = Msg("대기 신호 건너뛰기 (ID)", "skip a pending signal (id)")
SET = Msg("전략 숫자 변경 (확인 필요)", "change a strategy number (asks to confirm)")
LIVE = Msg("실전 매매로 전환 (점검 후 확인)", "switch to live trading (checks, confirm)")
PAPER = Msg("모의 매매로 전환 (확인 필요)", "switch to paper trading (asks to confirm)")
DASHBOARD = Msg("웹 대시보드 1회용 로그인 링크", "one-time login link for the dashboard")
HELP = Msg("명령어 목록", "the command list")
DAILY = Msg("일별 실현 손익 (KST)", "realized P&L per day (KST)")
WEEKLY = Msg("주별 실현 손익 (KST)", "realized P&L per week (KST)")
MONTHLY = Msg("월별 실현 손익 (KST)", "realized P&L per month (KST)")
PERFORMANCE = Msg("코인별 성과", "performance per coin")
STATS = Msg("승률·보유시간·최고/최저·수수료·펀딩", "win rate, holding time, best/worst, fees")
FORCEEXIT = Msg("포지션 하나 청산 (확인 필요)", "close one position (asks to confirm)")
LOGS = Msg("최근 로그 (민감정보 가림)", "last log lines (redacted)")
VERSION = Msg("버전 정보", "version and build")
RELOAD = Msg("전략 파일 다시 읽기 (변경점 확인)", "re-read the strategy file (shows changes)")
NOTIFY = Msg("알림 종류별 켬/무음/끔", "notifications per kind: on / silent / off")

register_area("help", globals())
