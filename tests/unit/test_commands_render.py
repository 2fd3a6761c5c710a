"""Pure rendering of the command core: /help from the command list in both languages, the 36-cell
wrap of monospace blocks, the log-line redaction of /logs."""

from __future__ import annotations

import re

from kimpbot import i18n
from kimpbot.control.command_list import COMMANDS
from kimpbot.control.commands import help_text
from kimpbot.control.format import mono, wrap
from kimpbot.i18n import cell_width, too_wide
from kimpbot.logs import RedactingFilter, redact_line

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_help_lists_every_command_once_grouped_in_both_languages():
    for lang in ("ko", "en"):
        with i18n.using(lang):
            text = help_text()
        assert too_wide(text) == [], too_wide(text)
        names = re.findall(r"^/(\w+)", text, re.M)
        assert sorted(names) == sorted(c.name for c in COMMANDS)  # each once, none missing
        assert bool(HANGUL.search(text)) is (lang == "ko")
    with i18n.using("ko"):
        ko = help_text()
    assert ko.index("📊 보기") < ko.index("/status") < ko.index("🕹 제어") < ko.index("/forceexit [포지션]")


def test_mono_wraps_every_line_within_36_cells_hangul_counting_two():
    line = "🛑 긴급정지 (저장소: journal cannot be written for 3 min (/tmp/a/very/long/path/to/the/data/dir))"
    out = wrap(line)
    assert len(out) > 1 and all(cell_width(x) <= 36 for x in out)
    assert all(x.startswith("  ") for x in out[1:])
    assert " ".join(x.strip() for x in out).replace("  ", " ").startswith("🛑 긴급정지 (저장소: journal")
    block = mono(["짧은 줄", "가" * 40, "x" * 80])
    assert too_wide(block) == [] and block.splitlines()[0] == "짧은 줄"
    assert "".join(x.strip() for x in block.splitlines()[1:]) == "가" * 40 + "x" * 80  # nothing lost


def test_log_lines_lose_configured_secrets_and_url_credentials():
    flt = RedactingFilter(["sim-binance-secret-123", "7654321:AAH-secret-bot-token_xyz"])
    line = ("sent with sim-binance-secret-123 to https://api.telegram.org/bot7654321:AAH-secret-bot-token_xyz/x "
            "and https://h.example/p?api_key=zz9912&q=1 and https://user:pw99@h.example/ "
            "and https://discord.com/api/webhooks/123/tok-ABC_def")
    out = redact_line(line, flt)
    for secret in ("sim-binance-secret-123", "AAH-secret-bot-token_xyz", "zz9912", "pw99", "tok-ABC_def"):
        assert secret not in out, out
    assert "api_key=***&q=1" in out and "https://***@h.example/" in out and "/webhooks/123/***" in out
    assert redact_line("nothing secret here", flt) == "nothing secret here"
