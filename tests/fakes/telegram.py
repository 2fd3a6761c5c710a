"""A fake Telegram Bot API server for end-to-end tests (aiohttp, 127.0.0.1, ephemeral port).

It follows https://core.telegram.org/bots/api closely enough that the REAL python-telegram-bot
(``ApplicationBuilder().base_url(f"{fake.base_url}/bot")``) runs against it unchanged:

* ``POST|GET /bot<token>/<method>`` with form-encoded, JSON or multipart bodies (python-telegram-bot
  sends form fields; nested objects such as ``reply_markup`` arrive as JSON strings). Method names
  are case-insensitive, as on the real server.
* A malformed token answers 404 ``Not Found``; a well-formed wrong token 401 ``Unauthorized``; an
  unknown method 404 ``Not Found``. Every reply is ``{"ok": true, "result": ...}`` or
  ``{"ok": false, "error_code": N, "description": "..."}`` worded as Telegram words it.
* ``getUpdates`` is a real long poll: it holds the request up to ``timeout`` seconds, confirms
  updates below ``offset`` (negative offsets count from the end), honours ``limit`` and
  ``allowed_updates`` (which persists between calls), and a second concurrent poll terminates the
  first with 409 ``Conflict: terminated by other getUpdates request ...``.
* ``parse_mode`` (HTML, MarkdownV2, Markdown) is parsed like Telegram's server (a port of tdlib's
  ``parse_html``/``parse_markdown_v2``/``parse_markdown``): the stored ``text`` is what the phone
  shows, entities carry UTF-16 offsets, and badly escaped markup is refused with
  ``Bad Request: can't parse entities: ...`` exactly as the real server refuses it.
* Message ids increase per chat (shared by the user's and the bot's messages); ``editMessageText``
  without ``reply_markup`` removes the inline keyboard (as Telegram does); editing to identical
  content answers ``Bad Request: message is not modified: ...``; callback queries expire
  (``callback_ttl_s``) and can be answered once.
* ``setMyCommands`` / ``getMyCommands`` / ``deleteMyCommands`` keep one list per ``scope`` and
  ``language_code`` and check commands as the server does (1-32 of ``a-z0-9_``, descriptions
  1-256, at most 100), refusing with the server's texts (``Bad Request: BOT_COMMAND_INVALID``, ...).
* Reply keyboards (``ReplyKeyboardMarkup``) are checked and remembered per chat (and user, when
  ``selective``): :meth:`FakeTelegram.reply_keyboard` is what the phone shows, and
  :meth:`FakeTelegram.press_keyboard` taps a button (its label arrives as a plain message). Every
  sent message's ``reply_markup`` is recorded in ``sent``.

Test-driving API (same process, same event loop)::

    async with FakeTelegram() as tg:
        app = (ApplicationBuilder().token(tg.token).base_url(f"{tg.base_url}/bot")
               .base_file_url(f"{tg.base_url}/file/bot").build())
        tg.send_command(42, 42, "/status")
        rec = await tg.wait_for(lambda r: r["method"] == "sendMessage")
        tg.press_button(42, 42, rec["message_id"], "exec:1")

Never logs the raw token: ``requests`` holds token-masked paths and aiohttp's access log is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import re
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from aiohttp import web

from kimpbot.sim._common import drop

from fakes._common import WAIT_S, ChatServer, Signal, first_match

log = logging.getLogger(__name__)

__all__ = ["FakeTelegram", "TelegramFault", "mask_token", "parse_entities"]

TOKEN_RE = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
MAX_TEXT = 4096                 # UTF-16 code units after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64          # bytes
DEFAULT_ALLOWED = frozenset({"message", "edited_message", "channel_post", "edited_channel_post",
                             "business_connection", "business_message", "edited_business_message",
                             "deleted_business_messages", "inline_query", "chosen_inline_result",
                             "callback_query", "shipping_query", "pre_checkout_query", "poll",
                             "poll_answer", "my_chat_member", "chat_join_request", "chat_boost",
                             "removed_chat_boost", "purchased_paid_media"})
CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                          "upload_voice", "upload_document", "choose_sticker", "find_location",
                          "record_video_note", "upload_video_note"})
FAULT_KINDS = ("http429", "http500", "http502", "drop", "lost", "delay")
# methods a bot uses to talk to a chat: recorded in ``sent``; ``inject("*", ...)`` targets these
CHAT_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup",
                          "answercallbackquery", "sendphoto", "deletemessage", "sendchataction"})
FLOOD_METHODS = frozenset({"sendmessage", "sendphoto", "editmessagetext", "editmessagereplymarkup"})

QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; make sure that only one bot "
                 "instance is running")


def mask_token(text: str, token: str | None = None) -> str:
    """Replace the secret half of any bot token in ``text`` by ``***`` (the bot id stays)."""
    if token:
        bot_id, _, _secret = token.partition(":")
        text = text.replace(token, f"{bot_id}:***")
    return re.sub(r"(\d{3,}):[A-Za-z0-9_-]{6,}", r"\1:***", text)


class TgError(Exception):
    """A Bot API error reply."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict:
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def _bad(desc: str) -> TgError:
    return TgError(400, f"Bad Request: {desc}")


@dataclass
class TelegramFault:
    method: str          # lower-case Bot API method name, or "*" for any chat method
    kind: str
    count: int
    retry_after: int
    delay_s: float
    where: Callable[[dict], bool] | None = None   # only calls whose raw parameters match


# --------------------------------------------------------------------------------------------
# Formatting: a port of tdlib's parsers (td/telegram/MessageEntity.cpp), which the Bot API uses
# --------------------------------------------------------------------------------------------

_SPACE = " \t\r\n\0\v\f"
_PRIORITY = {"blockquote": 0, "expandable_blockquote": 0, "pre": 11, "code": 20, "text_link": 49, "text_mention": 49,
             "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93, "spoiler": 94,
             "custom_emoji": 99}
# tdlib's names for entity types, as they appear in its error messages
_TD_NAME = {"bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
            "spoiler": "Spoiler", "text_link": "TextUrl", "code": "Code", "pre": "Pre",
            "pre_code": "PreCode", "blockquote": "BlockQuote", "custom_emoji": "CustomEmoji"}


class _ParseError(Exception):
    pass


def _w16(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def utf16_len(s: str) -> int:
    return sum(_w16(c) for c in s)


def _boff(s: str, i: int) -> int:
    """Byte offset (UTF-8) of character index ``i`` of ``s``: tdlib reports byte offsets."""
    return len(s[:i].encode("utf-8", "surrogatepass"))


def _at(s: str, j: int) -> str:
    return s[j] if j < len(s) else "\0"


def _reserved_error(ch: str) -> _ParseError:
    return _ParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")


def _pre_start(s: str, i: int) -> tuple[str, int]:
    """Right after an opening ```: (the language named there or '', where the code starts), past
    the language and one line break (\n, \r, \r\n or \n\r), as tdlib's Markdown parsers skip them."""
    lang_end = i
    while _at(s, lang_end) not in _SPACE and _at(s, lang_end) != "`":
        lang_end += 1
    language = ""
    if i != lang_end and lang_end < len(s) and s[lang_end] != "`":
        language = s[i:lang_end]
        i = lang_end
    if _at(s, i) in "\n\r" and _at(s, i) != "\0":
        if _at(s, i + 1) in "\n\r" and _at(s, i + 1) != "\0" and s[i] != s[i + 1]:
            i += 2
        else:
            i += 1
    return language, i


def _checked_link(url: str) -> str:
    """A simplified ``LinkManager::get_checked_link``: '' when unusable, else a normalised URL."""
    url = url.strip()
    if not url or any(c in url for c in " \n\t"):
        return ""
    if re.match(r"^(tg|ton):", url, re.I):
        return url
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https", "ftp") or not host:
        return ""
    if "." not in host and host != "localhost":
        return ""
    if not parts.path:   # "https://t.me?x" -> "https://t.me/?x", as Telegram normalises it
        head = f"{parts.scheme}://{parts.netloc}"
        url = head + "/" + url[len(head):]
    return url


def _entity(kind: str, offset: int, length: int, arg: str = "") -> dict:
    if kind == "pre_code":
        return {"type": "pre", "offset": offset, "length": length, "language": arg}
    e: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    if kind == "text_link":
        e["url"] = arg
    elif kind == "custom_emoji":
        e["custom_emoji_id"] = arg
    return e


def _sort_entities(ents: list[dict]) -> list[dict]:
    return sorted(ents, key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)))


def _decode_html_entity(s: str, pos: int) -> tuple[int, int]:
    """(code point or 0, position after the entity)."""
    end = pos + 1
    res = 0
    if _at(s, pos + 1) == "#":
        end += 1
        if _at(s, pos + 2) == "x":
            end += 1
            while _at(s, end) in "0123456789abcdefABCDEF" and _at(s, end) != "\0":
                res = res * 16 + int(s[end], 16)
                end += 1
        else:
            while "0" <= _at(s, end) <= "9":
                res = res * 10 + int(s[end])
                end += 1
        if res == 0 or res >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while _at(s, end).isascii() and _at(s, end).isalpha():
            end += 1
        res = {"lt": ord("<"), "gt": ord(">"), "amp": ord("&"), "quot": ord('"')}.get(s[pos + 1:end], 0)
        if not res:
            return 0, pos
    if _at(s, end) == ";":
        end += 1
    return res, end


_HTML_TAGS = {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
              "tg-emoji", "span", "pre", "code", "blockquote"}


def _parse_html(s: str) -> tuple[str, list[dict]]:
    out: list[str] = []
    u16 = 0
    ents: list[dict] = []
    nested: list[list[Any]] = []  # [tag, argument, utf16 offset, out index]
    surrogates = False
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c == "&":
            code, end = _decode_html_entity(s, i)
            if code:
                if 0xD800 <= code <= 0xDFFF:
                    surrogates = True
                out.append(chr(code))
                u16 += 2 if code > 0xFFFF else 1
                i = end
                continue
        if c != "<":
            out.append(c)
            u16 += _w16(c)
            i += 1
            continue
        begin = i
        i += 1
        if _at(s, i) != "/":
            while _at(s, i) not in _SPACE and _at(s, i) != ">":
                i += 1
            if _at(s, i) == "\0":
                raise _ParseError(f"Unclosed start tag at byte offset {_boff(s, begin)}")
            tag = s[begin + 1:i].lower()
            if tag not in _HTML_TAGS:
                raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {_boff(s, begin)}')
            argument = ""
            while _at(s, i) != ">":
                while _at(s, i) != "\0" and _at(s, i) in _SPACE:
                    i += 1
                if _at(s, i) == ">":
                    break
                abegin = i
                while _at(s, i) not in _SPACE and _at(s, i) not in "=>":
                    i += 1
                aname = s[abegin:i]
                if not aname:
                    raise _ParseError(f'Empty attribute name in the tag "{tag}" at byte offset {_boff(s, begin)}')
                while _at(s, i) != "\0" and _at(s, i) in _SPACE:
                    i += 1
                if _at(s, i) != "=":
                    # an attribute without a value (current tdlib accepts them: <blockquote expandable>)
                    if _at(s, i) == "\0":
                        raise _ParseError(f"Unclosed start tag at byte offset {_boff(s, begin)}")
                    if tag == "blockquote" and aname.lower() == "expandable":
                        argument = "expandable"
                    continue
                if tag == "blockquote" and aname.lower() == "expandable":
                    argument = "expandable"
                i += 1
                while _at(s, i) != "\0" and _at(s, i) in _SPACE:
                    i += 1
                if _at(s, i) == "\0":
                    raise _ParseError(f'Unclosed start tag "{tag}" at byte offset {_boff(s, begin)}')
                if _at(s, i) not in "'\"":
                    tbegin = i
                    while _at(s, i).isascii() and (_at(s, i).isalnum() or _at(s, i) in ".-") and _at(s, i) != "\0":
                        i += 1
                    value = s[tbegin:i].lower()
                    if _at(s, i) not in _SPACE and _at(s, i) != ">":
                        raise _ParseError(f"Unexpected end of name token at byte offset {_boff(s, tbegin)}")
                else:
                    quote = s[i]
                    i += 1
                    chars: list[str] = []
                    while _at(s, i) != quote and _at(s, i) != "\0":
                        if s[i] == "&":
                            code, end = _decode_html_entity(s, i)
                            if code:
                                chars.append(chr(code))
                                i = end
                                continue
                        chars.append(s[i])
                        i += 1
                    if _at(s, i) == quote:
                        i += 1
                    value = "".join(chars)
                if _at(s, i) == "\0":
                    raise _ParseError(f"Unclosed start tag at byte offset {_boff(s, begin)}")
                if tag == "a" and aname == "href":
                    argument = value
                elif tag == "code" and aname == "class" and value.startswith("language-"):
                    argument = value[9:]
                elif tag == "span" and aname == "class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "tg-emoji" and aname == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {_boff(s, begin)}')
            nested.append([tag, argument, u16, len(out)])
            i += 1
        else:
            if not nested:
                raise _ParseError(f"Unexpected end tag at byte offset {_boff(s, begin)}")
            while _at(s, i) not in _SPACE and _at(s, i) != ">":
                i += 1
            end_tag = s[begin + 2:i].lower()
            while _at(s, i) != "\0" and _at(s, i) in _SPACE:
                i += 1
            if _at(s, i) != ">":
                raise _ParseError(f"Unclosed end tag at byte offset {_boff(s, begin)}")
            tag, argument, off, out_begin = nested[-1]
            if end_tag and end_tag != tag:
                raise _ParseError(f'Unmatched end tag at byte offset {_boff(s, begin)}, expected "</{tag}>", '
                                  f'found "</{end_tag}>"')
            if u16 > off:
                length = u16 - off
                if tag in ("i", "em"):
                    ents.append(_entity("italic", off, length))
                elif tag in ("b", "strong"):
                    ents.append(_entity("bold", off, length))
                elif tag in ("s", "strike", "del"):
                    ents.append(_entity("strikethrough", off, length))
                elif tag in ("u", "ins"):
                    ents.append(_entity("underline", off, length))
                elif tag in ("tg-spoiler", "span"):
                    ents.append(_entity("spoiler", off, length))
                elif tag == "tg-emoji":
                    if not argument.isdigit() or int(argument) == 0:
                        raise _ParseError("Invalid custom emoji identifier specified")
                    ents.append(_entity("custom_emoji", off, length, argument))
                elif tag == "a":
                    url = _checked_link(argument or "".join(out[out_begin:]))
                    if url:
                        ents.append(_entity("text_link", off, length, url))
                elif tag == "pre":
                    last = ents[-1] if ents else None
                    if (last and last["type"] == "code" and last["offset"] == off and last["length"] == length
                            and last.get("_lang")):
                        ents[-1] = _entity("pre_code", off, length, last["_lang"])
                    else:
                        ents.append(_entity("pre", off, length))
                elif tag == "code":
                    last = ents[-1] if ents else None
                    if (last and last["type"] == "pre" and "language" not in last and last["offset"] == off
                            and last["length"] == length and argument):
                        ents[-1] = _entity("pre_code", off, length, argument)
                    else:
                        e = _entity("code", off, length)
                        if argument:
                            e["_lang"] = argument
                        ents.append(e)
                elif tag == "blockquote":
                    ents.append(_entity("expandable_blockquote" if argument == "expandable" else "blockquote",
                                        off, length))
            nested.pop()
            i += 1
    if nested:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1][0]}"')
    for e in ents:
        e.pop("_lang", None)
    if surrogates:
        raise _ParseError("Text contains invalid Unicode characters after decoding HTML entities, check for "
                          "unmatched surrogate code units")
    return "".join(out), _sort_entities(ents)


# MarkdownV2 openers of two characters: the first alone is reserved (must be escaped)
_TWO_CHAR_OPENERS = {"|": ("|", "spoiler"), "!": ("[", "custom_emoji")}


def _parse_markdown_v2(s: str) -> tuple[str, list[dict]]:
    out: list[str] = []
    u16 = 0
    ents: list[dict] = []
    nested: list[list[Any]] = []  # [kind, argument, utf16 offset, source index, out index]
    have_bq = False
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c == "\\" and "\0" < _at(s, i + 1) <= "~":
            i += 1
            u16 += 1
            out.append(s[i])
            i += 1
            continue
        reserved = "_*[]()~`>#+-=|{}.!\n"
        if nested and nested[-1][0] in ("code", "pre", "pre_code"):
            reserved = "`"
        if c not in reserved:
            u16 += _w16(c)
            out.append(c)
            i += 1
            continue
        is_end = False
        if nested:
            top = nested[-1][0]
            if have_bq and c == "\n" and (i + 1 == n or s[i + 1] != ">"):
                is_end = True
            elif top == "bold":
                is_end = c == "*"
            elif top == "italic":
                is_end = c == "_" and _at(s, i + 1) != "_"
            elif top == "code":
                is_end = c == "`"
            elif top in ("pre", "pre_code"):
                is_end = c == "`" and _at(s, i + 1) == "`" and _at(s, i + 2) == "`"
            elif top in ("text_link", "custom_emoji"):
                is_end = c == "]"
            elif top == "underline":
                is_end = c == "_" and _at(s, i + 1) == "_"
            elif top == "strikethrough":
                is_end = c == "~"
            elif top == "spoiler":
                is_end = c == "|" and _at(s, i + 1) == "|"
        if not is_end:
            kind: str | None
            argument = ""
            src = i
            if c == "_":
                if _at(s, i + 1) == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == "*":
                kind = "bold"
            elif c == "~":
                kind = "strikethrough"
            elif c in _TWO_CHAR_OPENERS:
                second, kind = _TWO_CHAR_OPENERS[c]
                if _at(s, i + 1) != second:
                    raise _reserved_error(c)
                i += 1
            elif c == "[":
                kind = "text_link"
            elif c == "`":
                if _at(s, i + 1) == "`" and _at(s, i + 2) == "`":
                    argument, i = _pre_start(s, i + 3)
                    kind = "pre_code" if argument else "pre"
                    i -= 1
                else:
                    kind = "code"
            elif c == "\n":
                u16 += 1
                out.append("\n")
                kind = None
                if i + 1 < n and s[i + 1] == ">":
                    i += 1
                    if not have_bq:
                        kind = "blockquote"
                        have_bq = True
            elif c == ">":
                if i != 0:
                    raise _reserved_error(c)
                kind = "blockquote"
                have_bq = True
            else:
                raise _reserved_error(c)
            if kind is not None:
                nested.append([kind, argument, u16, src, len(out)])
            i += 1
            continue
        kind, argument, off, src, out_begin = nested[-1]
        if c == "\n" and kind != "blockquote":
            raise _ParseError(f"Can't find end of {_TD_NAME[kind]} entity at byte offset {_boff(s, src)}")
        skip = u16 == off
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind in ("pre", "pre_code"):
            i += 2
        elif kind == "text_link":
            if _at(s, i + 1) != "(":
                url = "".join(out[out_begin:])
            else:
                i += 2
                url_begin = i
                chars: list[str] = []
                while i < n and s[i] != ")":
                    if s[i] == "\\" and "\0" < _at(s, i + 1) <= "~":
                        chars.append(s[i + 1])
                        i += 2
                        continue
                    chars.append(s[i])
                    i += 1
                if _at(s, i) != ")":
                    raise _ParseError(f"Can't find end of a URL at byte offset {_boff(s, url_begin)}")
                url = "".join(chars)
            url = _checked_link(url)
            if url:
                argument = url
            else:
                skip = True
        elif kind == "custom_emoji":
            if _at(s, i + 1) != "(":
                raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
            i += 2
            url_begin = i
            chars = []
            while i < n and s[i] != ")":
                chars.append(s[i])
                i += 1
            if _at(s, i) != ")":
                raise _ParseError(f"Can't find end of a custom emoji URL at byte offset {_boff(s, url_begin)}")
            m = re.match(r"^tg://emoji\?id=(\d+)$", "".join(chars))
            if not m:
                raise _ParseError("Invalid custom emoji URL specified")
            argument = m.group(1)
        elif kind == "blockquote":
            have_bq = False
            out.append(s[i])
            u16 += 1
        if not skip:
            ents.append(_entity(kind, off, u16 - off, argument))
        nested.pop()
        i += 1
    if have_bq and nested and nested[-1][0] == "blockquote":
        _, _, off, _, _ = nested.pop()
        if u16 != off:
            ents.append(_entity("blockquote", off, u16 - off))
    if nested:
        kind, _, _, src, _ = nested[-1]
        raise _ParseError(f"Can't find end of {_TD_NAME[kind]} entity at byte offset {_boff(s, src)}")
    return "".join(out), _sort_entities(ents)


def _parse_markdown(s: str) -> tuple[str, list[dict]]:
    """Legacy ``Markdown``: *bold* _italic_ `code` ```pre``` [text](url); '\\' escapes _*`[."""
    out: list[str] = []
    u16 = 0
    ents: list[dict] = []
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c == "\\" and _at(s, i + 1) in "_*`[" and _at(s, i + 1) != "\0":
            i += 1
            out.append(s[i])
            u16 += 1
            i += 1
            continue
        if c not in "_*`[":
            out.append(c)
            u16 += _w16(c)
            i += 1
            continue
        begin = i
        end_ch = "]" if c == "[" else c
        is_pre = False
        i += 1
        language = ""
        if c == "`" and _at(s, i) == "`" and _at(s, i + 1) == "`":
            language, i = _pre_start(s, i + 2)
            is_pre = True
        off = u16
        while i < n and (s[i] != end_ch or (is_pre and not (_at(s, i + 1) == "`" and _at(s, i + 2) == "`"))):
            u16 += _w16(s[i])
            out.append(s[i])
            i += 1
        if i == n:
            raise _ParseError(f"Can't find end of the entity starting at byte offset {_boff(s, begin)}")
        if off != u16:
            length = u16 - off
            if c == "_":
                ents.append(_entity("italic", off, length))
            elif c == "*":
                ents.append(_entity("bold", off, length))
            elif c == "[":
                if _at(s, i + 1) != "(":
                    url = s[begin + 1:i]
                else:
                    i += 2
                    chars = []
                    while i < n and s[i] != ")":
                        chars.append(s[i])
                        i += 1
                    url = "".join(chars)
                url = _checked_link(url)
                if url:
                    ents.append(_entity("text_link", off, length, url))
            elif is_pre:
                ents.append(_entity("pre_code", off, length, language) if language else _entity("pre", off, length))
            else:
                ents.append(_entity("code", off, length))
        if is_pre:
            i += 2
        i += 1
    return "".join(out), _sort_entities(ents)


def _trim(text: str, ents: list[dict]) -> tuple[str, list[dict]]:
    """Telegram strips leading/trailing whitespace from message text; entities follow."""
    stripped_l = text.lstrip(" \t\r\n")
    lead = utf16_len(text[: len(text) - len(stripped_l)])
    body = stripped_l.rstrip(" \t\r\n")
    total = utf16_len(body)
    out = []
    for e in ents:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            out.append({**e, "offset": start, "length": end - start})
    return body, out


def parse_entities(text: str, parse_mode: str | None) -> tuple[str, list[dict]]:
    """Text as shown and its entities, as the Bot API derives them; raises TgError on bad markup."""
    mode = (parse_mode or "").lower()
    try:
        if not mode:
            plain, ents = text, []
        elif mode == "html":
            plain, ents = _parse_html(text)
        elif mode == "markdownv2":
            plain, ents = _parse_markdown_v2(text)
        elif mode == "markdown":
            plain, ents = _parse_markdown(text)
        else:
            raise _bad("unsupported parse_mode")
    except _ParseError as exc:
        raise _bad(f"can't parse entities: {exc}") from None
    return _trim(plain, ents)


# --------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------

class _Params:
    """Bot API parameters from a query string, form, multipart or JSON body (coerced on read)."""

    def __init__(self, raw: dict[str, Any], files: dict[str, dict]) -> None:
        self.raw = raw
        self.files = files

    def has(self, name: str) -> bool:
        v = self.raw.get(name)
        return v is not None and v != ""

    def str(self, name: str, default: str | None = None) -> str | None:
        v = self.raw.get(name)
        if v is None:
            return default
        return v if isinstance(v, str) else json.dumps(v)

    def int(self, name: str, default: int | None = None) -> int | None:
        v = self.raw.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, (int, float)):
            return int(v)
        try:
            return int(float(v)) if "." in v else int(v)
        except ValueError:
            raise _bad(f'field "{name}" must be a valid Number') from None

    def float(self, name: str, default: float | None = None) -> float | None:
        v = self.raw.get(name)
        if v is None or v == "":
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise _bad(f'field "{name}" must be a valid Number') from None

    def bool(self, name: str, default: bool = False) -> bool:
        v = self.raw.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return v
        return str(v).strip().lower() in ("true", "1")

    def json(self, name: str, what: str = "JSON object") -> Any:
        v = self.raw.get(name)
        if v is None or v == "":
            return None
        if isinstance(v, str):
            try:
                return json.loads(v)
            except ValueError:
                raise _bad(f"can't parse {what}") from None
        return v

    def masked(self) -> dict[str, Any]:
        out = {k: v for k, v in self.raw.items()}
        for k in self.files:
            out[k] = f"<file {self.files[k].get('filename')!r}, {len(self.files[k]['data'])} bytes>"
        return out


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP image; None if not an image."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return (0, 0)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            seg = struct.unpack(">H", data[i + 2:i + 4])[0]
            i += 2 + seg
        return (0, 0)
    return None


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

class FakeTelegram(ChatServer):
    """A local Telegram Bot API (see the module docstring)."""

    def __init__(self, token: str = "123456:TEST-token", *, host: str = "127.0.0.1",
                 bot_username: str = "kimpbot_test_bot", bot_first_name: str = "kimpbot test",
                 callback_ttl_s: float = 15.0, strict_chats: bool = False,
                 flood_limit: tuple[int, float] | None = None) -> None:
        if not TOKEN_RE.match(token):
            raise ValueError("token must look like '<digits>:<secret>'")
        super().__init__(host)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_user: dict[str, Any] = {"id": self.bot_id, "is_bot": True, "first_name": bot_first_name,
                                         "username": bot_username}
        self.callback_ttl_s = callback_ttl_s
        self.strict_chats = strict_chats          # unknown chat -> "Bad Request: chat not found"
        self.flood_limit = flood_limit            # (messages, seconds) per chat, else 429

        # observable state for tests
        self.sent: list[dict] = []
        self.errors: list[dict] = []              # every error reply: method, chat_id, code, description
        self.requests: list[tuple[str, str]] = []  # (method, token-masked path)
        self.calls: list[dict] = []               # {"method", "params" (no token)} for every API call
        self.answered_callbacks: dict[str, dict] = {}
        self.commands: dict[tuple[str, str], list[dict]] = {}   # (scope JSON, language_code) -> BotCommands
        self.reply_keyboards: dict[tuple[int, int | None], dict] = {}   # see reply_keyboard()
        self.chats: dict[int, dict] = {}
        self.blocked: set[int] = set()            # chats whose user blocked the bot -> 403

        self._lock = threading.RLock()
        self._messages: dict[tuple[int, int], dict] = {}      # (chat_id, message_id) -> Message
        self._bot_msgs: list[tuple[int, int]] = []            # in send order
        self._deleted: set[tuple[int, int]] = set()
        self._keyboard_history: dict[tuple[int, int], set[str]] = {}
        self._next_mid: dict[int, int] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(100_000_001)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callbacks: dict[str, dict] = {}                 # id -> {"created", "answered", "chat_id"}
        self._allowed: frozenset[str] = DEFAULT_ALLOWED
        self._poll_gen = 0
        self._faults: list[TelegramFault] = []
        self._flood: dict[int, list[float]] = {}
        self._updates_sig = Signal()
        self._sent_sig = Signal()
        self._closing = False

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._updates_sig = Signal()
        self._sent_sig = Signal()
        self._updates_sig.loop = self._sent_sig.loop = loop
        self._closing = False
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        await self._serve(app)
        log.info("fake Telegram Bot API on %s", self.base_url)

    async def stop(self) -> None:
        self._closing = True
        self._updates_sig.notify()       # release held long polls at once
        await self._close()

    # ---------------------------------------------------------------- test driving: chats/users
    def add_chat(self, chat_id: int, chat_type: str | None = None, *, title: str | None = None,
                 username: str | None = None, first_name: str | None = None) -> dict:
        """Register (or update) a chat the bot can write to."""
        with self._lock:
            if chat_type is None:
                chat_type = "private" if chat_id > 0 else ("supergroup" if chat_id <= -10**12 else "group")
            chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = first_name or (username or "User").capitalize()
                if username:
                    chat["username"] = username
            else:
                chat["title"] = title or "kimpbot test group"
            self.chats[chat_id] = chat
            return dict(chat)

    def _user(self, user_id: int, username: str | None) -> dict:
        u: dict[str, Any] = {"id": user_id, "is_bot": False,
                             "first_name": (username or "User").capitalize(), "language_code": "en"}
        if username:
            u["username"] = username
        return u

    def _chat_for_user_update(self, chat_id: int, chat_type: str, username: str | None,
                              title: str | None) -> dict:
        chat = self.chats.get(chat_id)
        if chat is None or chat["type"] != chat_type:
            chat = self.add_chat(chat_id, chat_type, title=title, username=username)
        return dict(chat)

    def _new_mid(self, chat_id: int) -> int:
        mid = self._next_mid.get(chat_id, 0) + 1
        self._next_mid[chat_id] = mid
        return mid

    def _enqueue(self, update_body: dict) -> dict:
        with self._lock:
            update = {"update_id": next(self._update_ids), **update_body}
            self._updates.append(update)
        self._updates_sig.notify()
        return copy.deepcopy(update)

    # ---------------------------------------------------------------- test driving: updates
    def send_text(self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private",
                  username: str | None = "owner", title: str | None = None,
                  reply_to_message_id: int | None = None, entities: list[dict] | None = None) -> dict:
        """Queue an Update with a message the user typed; returns the Update."""
        with self._lock:
            chat = self._chat_for_user_update(chat_id, chat_type, username, title)
            mid = self._new_mid(chat_id)
            msg: dict[str, Any] = {"message_id": mid, "from": self._user(user_id, username), "chat": chat,
                                   "date": int(time.time()), "text": text}
            if entities is None:
                m = re.match(r"^/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_/<>])", text)
                entities = [{"offset": 0, "length": utf16_len(m.group(0)), "type": "bot_command"}] if m else []
            if entities:
                msg["entities"] = entities
            if reply_to_message_id is not None:
                replied = self._messages.get((chat_id, reply_to_message_id))
                if replied is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
                msg["reply_to_message"] = self._strip_reply(replied)
            self._messages[(chat_id, mid)] = msg
            return self._enqueue({"message": copy.deepcopy(msg)})

    def send_command(self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private",
                     username: str | None = "owner", title: str | None = None) -> dict:
        """Queue an Update with a bot command (``/cmd`` or ``/cmd@bot args``); returns the Update."""
        if not text.startswith("/"):
            raise ValueError("a command starts with '/'")
        cmd = text.split(maxsplit=1)[0]
        ents = [{"offset": 0, "length": utf16_len(cmd), "type": "bot_command"}]
        return self.send_text(chat_id, user_id, text, chat_type=chat_type, username=username, title=title,
                              entities=ents)

    def press_button(self, chat_id: int, user_id: int, message_id: int, data: str, *,
                     username: str | None = "owner", forged: bool = False) -> dict:
        """Queue an Update with a callback_query, as when the user taps an inline button.

        ``data`` must be (or have been, for a stale client) on the message's keyboard unless
        ``forged=True``. The query's ``message`` is the bot's message as it is now.
        """
        with self._lock:
            key = (chat_id, message_id)
            msg = self._messages.get(key)
            if msg is None or key in self._deleted:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if msg.get("from", {}).get("id") != self.bot_id:
                raise ValueError("inline buttons exist only on the bot's messages")
            if not forged and data not in self._keyboard_history.get(key, set()):
                raise ValueError(f"message {message_id} never had a button with callback_data {data!r}; "
                                 f"current buttons: {self.buttons(message_id, chat_id=chat_id)}")
            qid = str(4_315_000_000_000_000_000 + next(self._callback_ids))
            self._callbacks[qid] = {"created": time.monotonic(), "answered": False, "chat_id": chat_id}
            query = {"id": qid, "from": self._user(user_id, username), "message": copy.deepcopy(msg),
                     "chat_instance": str(-(abs(chat_id) * 7_919_113 % 10**18) - 10**17), "data": data}
        return self._enqueue({"callback_query": query})

    def queue_update(self, update_body: dict) -> dict:
        """Queue any other update object (e.g. {"edited_message": {...}}); update_id is added."""
        return self._enqueue(copy.deepcopy(update_body))

    @property
    def pending_updates(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._updates)

    # ---------------------------------------------------------------- test driving: observation
    def messages(self, chat_id: int | None = None) -> list[dict]:
        """The bot's messages as they are now (after edits; deleted ones left out), oldest first."""
        with self._lock:
            return [copy.deepcopy(self._messages[k]) for k in self._bot_msgs
                    if k not in self._deleted and (chat_id is None or k[0] == chat_id)]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        with self._lock:
            m = self._messages.get((chat_id, message_id))
            return copy.deepcopy(m) if m is not None and (chat_id, message_id) not in self._deleted else None

    def buttons(self, message_id: int, chat_id: int | None = None) -> list[tuple[str, str]]:
        """(text, callback_data or url) of the message's current inline keyboard, row by row."""
        with self._lock:
            keys = [k for k in self._bot_msgs if k[1] == message_id and (chat_id is None or k[0] == chat_id)]
            if not keys:
                raise KeyError(f"the bot sent no message {message_id}" + (f" in chat {chat_id}" if chat_id else ""))
            if len(keys) > 1:
                raise KeyError(f"message id {message_id} exists in several chats; pass chat_id")
            msg = self._messages[keys[0]]
            if keys[0] in self._deleted:
                return []
            rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
            out = []
            for row in rows:
                for b in row:
                    out.append((b["text"], b.get("callback_data", b.get("url", ""))))
            return out

    async def wait_for(self, predicate: Callable[[dict], bool], timeout: float = WAIT_S, *,
                       since: int = 0) -> dict:
        """The first record in ``sent[since:]`` that matches, waiting up to ``timeout`` seconds."""
        def timed_out(last: list[dict]) -> str:
            tail = [{k: r.get(k) for k in ("method", "chat_id", "message_id", "text")} for r in last]
            return f"no matching Telegram call within {timeout}s; last sent: {tail}"
        return await first_match(self.sent, predicate, timeout, since, self._sent_sig, timed_out)

    # ---------------------------------------------------------------- fault injection
    def inject(self, method: str, kind: str, count: int = 1, retry_after: int = 1, *,
               delay_s: float = 1.0, where: Callable[[dict], bool] | None = None) -> None:
        """Make the next ``count`` calls of ``method`` ("*": any chat method) misbehave; ``where``:
        only calls whose raw parameters (form fields as sent) it accepts.

        http429  429 "Too Many Requests: retry after N" with parameters.retry_after
        http500  500 "Internal Server Error";  http502  502 "Bad Gateway"
        drop     the connection is closed before the call is processed (nothing delivered)
        lost     the call IS processed (message delivered), then the connection is closed
        delay    the reply comes ``delay_s`` seconds late (processed after the wait)
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(TelegramFault(method if method == "*" else method.lower(), kind, count,
                                              int(retry_after), float(delay_s), where))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, raw: dict | None = None) -> TelegramFault | None:
        with self._lock:
            for f in self._faults:
                if f.where is not None and not f.where(raw or {}):
                    continue
                if f.method == method or (f.method == "*" and method in CHAT_METHODS):
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    return f
        return None

    # ---------------------------------------------------------------- HTTP plumbing
    @staticmethod
    def _reply(body: dict, status: int = 200) -> web.Response:
        return web.Response(status=status, body=json.dumps(body, ensure_ascii=False).encode(),
                            content_type="application/json")

    async def _not_found(self, request: web.Request) -> web.Response:
        self.requests.append(("?", mask_token(request.path, self.token)))
        return self._reply({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    async def _read_params(self, request: web.Request) -> _Params:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, dict] = {}
        if request.method in ("POST", "PUT") and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise _bad("JSON object expected as request body")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for k, v in form.items():
                    if isinstance(v, web.FileField):
                        files[k] = {"data": v.file.read(), "filename": v.filename, "content_type": v.content_type}
                    else:
                        raw[k] = v
            else:
                await request.read()
        return _Params(raw, files)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        self.requests.append((method, mask_token(request.path, self.token)))
        if not TOKEN_RE.match(token):
            return self._reply({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        if token != self.token:
            return self._reply({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        name = method.lower()
        impl = getattr(self, f"_m_{name}", None)
        if impl is None:
            return self._reply({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        try:
            params = await self._read_params(request)
        except TgError as exc:
            return self._reply(exc.body(), exc.code)
        self.calls.append({"method": method, "params": params.masked(), "ts": time.time()})

        fault = self._take_fault(name, params.raw)
        if fault is not None:
            log.info("fault %s on %s", fault.kind, method)
            if fault.kind == "http429":
                n = max(int(fault.retry_after), 1)
                return self._error(method, params, TgError(429, f"Too Many Requests: retry after {n}",
                                                         {"retry_after": n}))
            if fault.kind == "http500":
                return self._error(method, params, TgError(500, "Internal Server Error"))
            if fault.kind == "http502":
                return self._error(method, params, TgError(502, "Bad Gateway"))
            if fault.kind == "drop":
                return drop(request)
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
        try:
            if name in FLOOD_METHODS:
                self._check_flood(params)
            result = await impl(params)
        except TgError as exc:
            return self._error(method, params, exc)
        except Exception:  # a bug in the fake must not look like a Telegram answer
            log.exception("fake Telegram failed on %s", method)
            return self._reply({"ok": False, "error_code": 500, "description": "Internal Server Error"}, 500)
        if fault is not None and fault.kind == "lost":
            return drop(request)
        return self._reply({"ok": True, "result": result})

    def _error(self, name: str, params: _Params, exc: TgError) -> web.Response:
        chat_id: Any = params.raw.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id) if chat_id is not None else None
        self.errors.append({"method": name, "chat_id": chat_id, "error_code": exc.code,
                            "description": exc.description, "ts": time.time()})
        return self._reply(exc.body(), exc.code)

    def _check_flood(self, params: _Params) -> None:
        if not self.flood_limit:
            return
        limit, window = self.flood_limit
        chat_id = params.raw.get("chat_id")
        if chat_id is None:
            return
        key = int(chat_id) if str(chat_id).lstrip("-").isdigit() else hash(chat_id)
        now = time.monotonic()
        with self._lock:
            stamps = [t for t in self._flood.get(key, []) if now - t < window]
            if len(stamps) >= limit:
                n = max(1, math.ceil(window - (now - stamps[0])))
                self._flood[key] = stamps
                raise TgError(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
            stamps.append(now)
            self._flood[key] = stamps

    def _record(self, rec: dict) -> None:
        rec["ts"] = time.time()
        with self._lock:
            self.sent.append(rec)
        self._sent_sig.notify()

    # ---------------------------------------------------------------- helpers for methods
    def _chat(self, params: _Params, *, required: bool = True) -> dict:
        raw = params.raw.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for c in self.chats.values():
                if c.get("username", "").lower() == raw[1:].lower():
                    return c
            raise _bad("chat not found")
        chat_id = params.int("chat_id")
        assert chat_id is not None
        chat = self.chats.get(chat_id)
        if chat is None:
            if self.strict_chats:
                raise _bad("chat not found")
            chat = self.add_chat(chat_id)
            chat = self.chats[chat_id]
        if chat_id in self.blocked:
            if chat["type"] == "private":
                raise TgError(403, "Forbidden: bot was blocked by the user")
            raise TgError(403, "Forbidden: bot was kicked from the group chat")
        return chat

    @staticmethod
    def _strip_reply(msg: dict) -> dict:
        out = copy.deepcopy(msg)
        out.pop("reply_to_message", None)
        return out

    def _markup(self, params: _Params) -> tuple[dict | None, dict | None]:
        """(markup for the message — inline keyboards only, parsed markup as sent)."""
        markup = params.json("reply_markup", "reply keyboard markup JSON object")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise _bad("object expected as reply markup")
        if "inline_keyboard" not in markup:
            # reply keyboards / remove / force reply are not part of the Message; a reply keyboard
            # is checked as the server checks it and becomes the chat's keyboard (send methods)
            if "keyboard" in markup:
                self._check_reply_keyboard(markup)
            return None, markup
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
        norm_rows = []
        for row in rows:
            norm = []
            for b in row:
                if not isinstance(b, dict) or not isinstance(b.get("text"), str):
                    raise _bad("can't parse inline keyboard button: Field \"text\" must be of type String")
                actions = [k for k in b if k != "text"]
                if not actions:
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline "
                               "keyboard")
                if "callback_data" in b:
                    cd = b["callback_data"]
                    if not isinstance(cd, str) or not 1 <= len(cd.encode()) <= MAX_CALLBACK_DATA:
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in b and not _checked_link(str(b["url"])):
                    raise _bad("BUTTON_URL_INVALID")
                norm.append(dict(b))
            norm_rows.append(norm)
        out = {"inline_keyboard": norm_rows}
        return out, markup

    @staticmethod
    def _check_reply_keyboard(markup: dict) -> None:
        """ReplyKeyboardMarkup (https://core.telegram.org/bots/api#replykeyboardmarkup): ``keyboard``
        an Array of Arrays of KeyboardButton (or plain strings, which the server accepts as the
        button's text); ``input_field_placeholder`` 1-64 characters."""
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        for row in rows:
            for b in row:
                text = b if isinstance(b, str) else b.get("text") if isinstance(b, dict) else None
                if not isinstance(text, str):
                    raise _bad("can't parse keyboard button: Field \"text\" must be of type String")
                if not text:
                    raise _bad("can't parse keyboard button: Text must be non-empty")   # unverified wording
        ph = markup.get("input_field_placeholder")
        if ph is not None and not 1 <= len(str(ph)) <= 64:
            raise _bad("can't parse reply keyboard markup JSON object")   # unverified wording

    def _note_reply_keyboard(self, chat_id: int, markup_raw: dict | None, reply_to: dict | None) -> None:
        """What the phone's keyboard area shows after a message: a reply keyboard stays until another
        replaces it or ``remove_keyboard`` removes it. ``selective``: only for the user replied to
        (or mentioned); kept here per (chat, user), user None = everyone in the chat."""
        if not isinstance(markup_raw, dict) or not ({"keyboard", "remove_keyboard"} & set(markup_raw)):
            return
        user = None
        if markup_raw.get("selective") and reply_to is not None:
            user = (reply_to.get("from") or {}).get("id")
        with self._lock:
            if "keyboard" in markup_raw:
                rows = [[b if isinstance(b, str) else b["text"] for b in row] for row in markup_raw["keyboard"]]
                self.reply_keyboards[(chat_id, user)] = {"rows": rows, **{k: v for k, v in markup_raw.items()
                                                                           if k != "keyboard"}}
            else:
                self.reply_keyboards.pop((chat_id, user), None)

    def reply_keyboard(self, chat_id: int, user_id: int | None = None) -> dict | None:
        """The reply keyboard the user sees in the chat now: ``{"rows": [[label, ...]], "resize_keyboard", ...}``."""
        with self._lock:
            kb = self.reply_keyboards.get((chat_id, user_id)) if user_id is not None else None
            return copy.deepcopy(kb or self.reply_keyboards.get((chat_id, None)))

    def press_keyboard(self, chat_id: int, user_id: int, label: str, *, chat_type: str = "private",
                       username: str | None = "owner") -> dict:
        """The user taps a reply keyboard button: the client sends its label as a plain message.
        Only a label of the keyboard the user sees can be tapped."""
        kb = self.reply_keyboard(chat_id, user_id)
        if kb is None or label not in [t for row in kb["rows"] for t in row]:
            raise ValueError(f"no reply keyboard button {label!r} in chat {chat_id}: {kb and kb['rows']}")
        return self.send_text(chat_id, user_id, label, chat_type=chat_type, username=username)

    def _remember_keyboard(self, key: tuple[int, int], markup: dict | None) -> None:
        if markup:
            hist = self._keyboard_history.setdefault(key, set())
            for row in markup.get("inline_keyboard", []):
                for b in row:
                    if "callback_data" in b:
                        hist.add(b["callback_data"])

    def _reply_target(self, params: _Params, chat_id: int) -> dict | None:
        rp = params.json("reply_parameters", "reply parameters JSON object")
        mid = params.int("reply_to_message_id")
        allow = params.bool("allow_sending_without_reply")
        if isinstance(rp, dict):
            mid = rp.get("message_id", mid)
            allow = bool(rp.get("allow_sending_without_reply", allow))
            if rp.get("chat_id") not in (None, chat_id):
                raise _bad("message to be replied not found")
        if mid is None:
            return None
        target = self._messages.get((chat_id, int(mid)))
        if target is None or (chat_id, int(mid)) in self._deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return self._strip_reply(target)

    def _text_and_entities(self, params: _Params, field: str = "text") -> tuple[str, list[dict], str]:
        raw = params.str(field) or ""
        pm = params.str("parse_mode") or None
        explicit = params.json("entities" if field == "text" else "caption_entities", "entities JSON object")
        if explicit and not pm:
            text, ents = _trim(raw, list(explicit))
        else:
            text, ents = parse_entities(raw, pm)
        return text, ents, raw

    def _message_text(self, params: _Params) -> tuple[str, list[dict], str]:
        """``_text_and_entities`` of a message's ``text``, refused empty or over MAX_TEXT as Telegram does."""
        text, ents, raw = self._text_and_entities(params, "text")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise _bad("message is too long")
        return text, ents, raw

    def _store_bot_message(self, chat: dict, body: dict, markup: dict | None, reply_to: dict | None) -> dict:
        chat_id = chat["id"]
        mid = self._new_mid(chat_id)
        msg: dict[str, Any] = {"message_id": mid, "from": dict(self.bot_user), "chat": dict(chat),
                               "date": int(time.time())}
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        msg.update(body)
        if markup is not None:
            msg["reply_markup"] = markup
        key = (chat_id, mid)
        self._messages[key] = msg
        self._bot_msgs.append(key)
        self._remember_keyboard(key, markup)
        return msg

    def _edit_target(self, params: _Params) -> tuple[tuple[int, int], dict]:
        if params.has("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._chat(params)
        mid = params.int("message_id")
        if mid is None:
            raise _bad("message identifier is not specified")
        key = (chat["id"], mid)
        msg = self._messages.get(key)
        if msg is None or key in self._deleted:
            raise _bad("message to edit not found")
        if msg.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return key, msg

    # ---------------------------------------------------------------- Bot API methods
    async def _m_getme(self, params: _Params) -> dict:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    async def _m_logout(self, params: _Params) -> bool:
        return True

    async def _m_close(self, params: _Params) -> bool:
        return True

    async def _m_deletewebhook(self, params: _Params) -> bool:
        if params.bool("drop_pending_updates"):
            with self._lock:
                self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: _Params) -> dict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _m_getupdates(self, params: _Params) -> list[dict]:
        offset = params.int("offset")
        limit = params.int("limit", 100) or 100
        limit = min(max(limit, 1), 100)
        timeout = max(params.float("timeout", 0.0) or 0.0, 0.0)
        allowed = params.json("allowed_updates", "allowed updates JSON array")
        with self._lock:
            if isinstance(allowed, list):
                self._allowed = frozenset(allowed) if allowed else DEFAULT_ALLOWED
            if offset is not None:
                if offset < 0:
                    self._updates = self._updates[offset:] if -offset < len(self._updates) else self._updates
                else:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._poll_gen += 1
            gen = self._poll_gen
        self._updates_sig.notify()          # a poll still held for an older request ends with 409
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if gen != self._poll_gen:
                    raise TgError(409, CONFLICT_POLL)
                # updates of types not allowed are dropped, as Telegram does not create them
                self._updates = [u for u in self._updates if self._update_type(u) in self._allowed]
                batch = copy.deepcopy(self._updates[:limit])
            left = deadline - time.monotonic()
            if batch or left <= 0 or self._closing:
                return batch
            await self._updates_sig.wait(left)

    @staticmethod
    def _update_type(update: dict) -> str:
        return next((k for k in update if k != "update_id"), "")

    async def _m_sendmessage(self, params: _Params) -> dict:
        chat = self._chat(params)
        text, ents, raw = self._message_text(params)
        markup, markup_raw = self._markup(params)
        with self._lock:
            reply_to = self._reply_target(params, chat["id"])
            body: dict[str, Any] = {"text": text}
            if ents:
                body["entities"] = ents
            lpo = params.json("link_preview_options", "link preview options JSON object")
            if isinstance(lpo, dict) and lpo:
                body["link_preview_options"] = lpo
            msg = self._store_bot_message(chat, body, markup, reply_to)
            result = copy.deepcopy(msg)
        self._record({"method": "sendMessage", "chat_id": chat["id"], "message_id": msg["message_id"],
                      "text": text, "raw_text": raw, "parse_mode": params.str("parse_mode"), "entities": ents,
                      "reply_markup": markup_raw, "reply_to_message_id": (reply_to or {}).get("message_id"),
                      "disable_notification": params.bool("disable_notification")})
        self._note_reply_keyboard(chat["id"], markup_raw, reply_to)
        return result

    async def _m_sendphoto(self, params: _Params) -> dict:
        chat = self._chat(params)
        caption, ents, raw = self._text_and_entities(params, "caption")
        if utf16_len(caption) > MAX_CAPTION:
            raise _bad("message caption is too long")
        photo_bytes: bytes | None = None
        photo_ref: str | None = None
        fname = None
        if "photo" in params.files:
            photo_bytes = params.files["photo"]["data"]
            fname = params.files["photo"]["filename"]
        else:
            ref = params.str("photo")
            if ref and ref.startswith("attach://") and ref[9:] in params.files:
                photo_bytes = params.files[ref[9:]]["data"]
                fname = params.files[ref[9:]]["filename"]
            elif ref:
                photo_ref = ref
        if photo_bytes is None and not photo_ref:
            raise _bad("there is no photo in the request")
        if photo_bytes is not None:
            size = _image_size(photo_bytes)
            if size is None:
                raise _bad("IMAGE_PROCESS_FAILED")
            if len(photo_bytes) > 10 * 1024 * 1024:
                raise _bad("PHOTO_INVALID_DIMENSIONS")
            w, h = size
            n = next(self._file_ids)
            big = {"file_id": f"AgACAgIAAxkDAAI{n:06d}big", "file_unique_id": f"AQAD{n:06d}x",
                   "file_size": len(photo_bytes), "width": w, "height": h}
            scale = 90 / max(w, h, 1)
            thumb = {"file_id": f"AgACAgIAAxkDAAI{n:06d}thm", "file_unique_id": f"AQAD{n:06d}m",
                     "file_size": max(len(photo_bytes) // 20, 1), "width": max(int(w * scale), 1),
                     "height": max(int(h * scale), 1)}
            photo = [thumb, big]
        else:
            photo = [{"file_id": photo_ref, "file_unique_id": "AQADref", "file_size": 0, "width": 0, "height": 0}]
        markup, markup_raw = self._markup(params)
        with self._lock:
            reply_to = self._reply_target(params, chat["id"])
            body: dict[str, Any] = {"photo": photo}
            if caption:
                body["caption"] = caption
            if ents:
                body["caption_entities"] = ents
            msg = self._store_bot_message(chat, body, markup, reply_to)
            result = copy.deepcopy(msg)
        rec: dict[str, Any] = {"method": "sendPhoto", "chat_id": chat["id"], "message_id": msg["message_id"],
                               "text": caption, "caption": caption, "raw_text": raw,
                               "parse_mode": params.str("parse_mode"), "entities": ents,
                               "reply_markup": markup_raw, "photo_filename": fname,
                               "reply_to_message_id": (reply_to or {}).get("message_id")}
        self._note_reply_keyboard(chat["id"], markup_raw, reply_to)
        if photo_bytes is not None:
            rec["photo_bytes"] = photo_bytes
        else:
            rec["photo_ref"] = photo_ref
        self._record(rec)
        return result

    async def _m_editmessagetext(self, params: _Params) -> dict:
        key, msg = self._edit_target(params)
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        text, ents, raw = self._message_text(params)
        markup, markup_raw = self._markup(params)
        with self._lock:
            if msg.get("text") == text and msg.get("entities", []) == ents and msg.get("reply_markup") == markup:
                raise _bad(NOT_MODIFIED[len("Bad Request: "):])
            msg["text"] = text
            if ents:
                msg["entities"] = ents
            else:
                msg.pop("entities", None)
            if markup is not None:
                msg["reply_markup"] = markup
            else:
                msg.pop("reply_markup", None)   # no reply_markup: Telegram removes the keyboard
            msg["edit_date"] = int(time.time())
            self._remember_keyboard(key, markup)
            result = copy.deepcopy(msg)
        self._record({"method": "editMessageText", "chat_id": key[0], "message_id": key[1], "text": text,
                      "raw_text": raw, "parse_mode": params.str("parse_mode"), "entities": ents,
                      "reply_markup": markup_raw})
        return result

    async def _m_editmessagereplymarkup(self, params: _Params) -> dict:
        key, msg = self._edit_target(params)
        markup, markup_raw = self._markup(params)
        with self._lock:
            if msg.get("reply_markup") == markup:
                raise _bad(NOT_MODIFIED[len("Bad Request: "):])
            if markup is not None:
                msg["reply_markup"] = markup
            else:
                msg.pop("reply_markup", None)
            msg["edit_date"] = int(time.time())
            self._remember_keyboard(key, markup)
            result = copy.deepcopy(msg)
        self._record({"method": "editMessageReplyMarkup", "chat_id": key[0], "message_id": key[1],
                      "text": msg.get("text", msg.get("caption", "")), "reply_markup": markup_raw})
        return result

    async def _m_answercallbackquery(self, params: _Params) -> bool:
        qid = params.str("callback_query_id")
        if not qid:
            raise _bad("query_id is empty")   # unverified wording
        text = params.str("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        with self._lock:
            q = self._callbacks.get(qid)
            if q is None or q["answered"] or time.monotonic() - q["created"] > self.callback_ttl_s:
                raise _bad(QUERY_TOO_OLD[len("Bad Request: "):])
            q["answered"] = True
            entry = {"text": text, "show_alert": params.bool("show_alert"), "url": params.str("url"),
                     "cache_time": params.int("cache_time", 0), "ts": time.time()}
            self.answered_callbacks[qid] = entry
        self._record({"method": "answerCallbackQuery", "chat_id": q["chat_id"], "message_id": None,
                      "callback_query_id": qid, "text": text, "show_alert": entry["show_alert"]})
        return True

    async def _m_deletemessage(self, params: _Params) -> bool:
        chat = self._chat(params)
        mid = params.int("message_id")
        if mid is None:
            raise _bad("message identifier is not specified")
        key = (chat["id"], mid)
        with self._lock:
            if key not in self._messages or key in self._deleted:
                raise _bad("message to delete not found")
            msg = self._messages[key]
            if msg.get("from", {}).get("id") != self.bot_id and chat["type"] != "private":
                raise _bad("message can't be deleted")
            self._deleted.add(key)
        self._record({"method": "deleteMessage", "chat_id": chat["id"], "message_id": mid, "text": None})
        return True

    async def _m_sendchataction(self, params: _Params) -> bool:
        chat = self._chat(params)
        action = params.str("action")
        if action not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._record({"method": "sendChatAction", "chat_id": chat["id"], "message_id": None, "text": None,
                      "action": action})
        return True

    SCOPE_TYPES = frozenset({"default", "all_private_chats", "all_group_chats", "all_chat_administrators",
                             "chat", "chat_administrators", "chat_member"})

    @classmethod
    def _scope_key(cls, params: _Params) -> tuple[str, str]:
        """setMyCommands / getMyCommands / deleteMyCommands address one list by ``scope``
        (BotCommandScope, default ``{"type": "default"}``) and ``language_code`` (a two-letter
        ISO 639-1 code or empty). getMyCommands returns exactly that list (no fallback to the
        default: the fallback happens on the user's phone), ``[]`` when none was set."""
        scope = params.json("scope", "BotCommandScope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in cls.SCOPE_TYPES:
            raise _bad("can't parse BotCommandScope: Unsupported scope type specified")   # unverified wording
        lang = params.str("language_code") or ""
        if lang and not re.fullmatch(r"[a-z]{2}", lang):
            raise _bad("LANG_CODE_INVALID")   # unverified wording
        return json.dumps(scope, sort_keys=True), lang

    async def _m_setmycommands(self, params: _Params) -> bool:
        """https://core.telegram.org/bots/api#setmycommands: at most 100 BotCommands, ``command``
        1-32 characters of lowercase English letters, digits and underscores, ``description`` 1-256
        characters. Error texts as the server sends them (seen in client bug reports):
        ``Bad Request: BOT_COMMAND_INVALID`` (a bad name, upper case included), ``Bad Request:
        command description must be non-empty``, ``Bad Request: can't parse BotCommand: Can't find
        field "description"``; an over-long description and too many commands are worded here after
        the server's error-code style (unverified)."""
        cmds = params.json("commands", "bot commands JSON array")
        if cmds is None:
            cmds = []   # a request without commands sets an empty list (tdlib/telegram-bot-api#98)
        if not isinstance(cmds, list):
            raise _bad("can't parse commands JSON object")   # unverified wording
        if len(cmds) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")   # unverified wording
        clean = []
        for c in cmds:
            if not isinstance(c, dict):
                raise _bad("can't parse BotCommand: expected an Object")   # unverified wording
            for f in ("command", "description"):
                if f not in c:
                    raise _bad(f'can\'t parse BotCommand: Can\'t find field "{f}"')
                if not isinstance(c[f], str):
                    raise _bad(f'can\'t parse BotCommand: Field "{f}" must be of type String')
            name = c["command"][1:] if c["command"].startswith("/") else c["command"]
            desc = c["description"].strip()
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not desc:
                raise _bad("command description must be non-empty")
            if len(desc) > 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")   # unverified wording
            clean.append({"command": name, "description": desc})
        with self._lock:
            key = self._scope_key(params)
            if clean:
                self.commands[key] = clean
            else:   # an empty list deletes the list (as deleteMyCommands)
                self.commands.pop(key, None)
        return True

    async def _m_getmycommands(self, params: _Params) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self.commands.get(self._scope_key(params), []))

    async def _m_deletemycommands(self, params: _Params) -> bool:
        with self._lock:
            self.commands.pop(self._scope_key(params), None)
        return True
