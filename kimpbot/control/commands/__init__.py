"""The chat-independent command core (like freqtrade's ``rpc``): Telegram, Discord and the console
are thin front ends over it, through :class:`CommandCore`.

Every entry point takes the front end's name and the caller's user id, checks it against the
allowed set for that front end, and returns a :class:`Reply`: data for a program plus a short,
phone-sized text. Buttons carry short ``callback data`` strings::

    x:<pending_id>   Execute a pending signal        s:<pending_id>  Skip it
    ca               offer "close all" (step 1)      cy:<nonce> / cn:<nonce>  confirm / cancel (step 2)
    ra:<fid> / rc:<fid> / ri:<fid>                    Adopt / Close / Ignore a reconciliation finding
    fx:<position id> offer to close one position (step 1 of /forceexit)
    rf:status / rf:positions                          Refresh: the view again, edited in place
    pp:<section>     /params of one section (paged in place)
    n:<group>:<level>  /notify: one kind of event on / silent / off

Every text comes from the catalogue (``kimpbot.i18n.chat``), rendered when the reply is made, in the
language being rendered (the process's ``KIMPBOT_LANG``, or an enclosing ``i18n.using``).
Monospace views keep within 36 cells a line (:func:`kimpbot.control.format.mono`).

Destructive actions (close all, close one position, a parameter change, a reload of the strategy
file, a switch to live or back to paper) need a second, one-time confirmation button (``cy``/``cn``)
that expires after ``CONFIRM_TTL_S``. Every state change and every refusal is audited through
``store.audit`` (who = ``"<front>:<user id>"``).

The parts, mixed into the one class:

    core.py      CommandCore: who may ask, the dispatch of commands and presses, buttons bound to
                 their message, step 2 of every two-step action
    base.py      Reply, Button, the pending confirmation; the base every part shares
    views.py     /help /status /positions /pnl /trades /balance /chart
    trading.py   /start /stop /halt /resume /closeall /forceexit /live /paper
    signals.py   Execute / Skip a signal (/pending /confirm /skip), reconciliation findings
    params.py    /params /set /reload
    system.py    /logs /version /dashboard
    ../reports.py, ../notify_prefs.py   /daily … /stats; /notify
"""

from kimpbot.control.commands.base import Button, Reply
from kimpbot.control.commands.core import CommandCore
from kimpbot.control.commands.views import help_text

__all__ = ["Button", "CommandCore", "Reply", "help_text"]
