"""Where discord.py sends its HTTP requests (the ``DISCORD_API_URL`` setting).

discord.py builds every REST URL, webhooks included, from one class attribute:
``discord.http.Route.BASE`` (``"https://discord.com/api/v10"``). ``Route.__init__`` reads it
when each request is built (``url = self.BASE + self.path``), and the webhook adapter
(``discord.webhook.async_.AsyncWebhookAdapter``) sends to ``route.url``. ``Webhook.from_url``
only parses the id and token out of the URL (it accepts nothing but the real
``https://discord.com/api/webhooks/<id>/<token>`` form) and never uses its host. So setting
``Route.BASE`` redirects webhook posts and the gateway bot's REST calls alike, while the
configured webhook URL stays in its real form.

The setting is process-wide (a class attribute). Set it once at start-up, before any request.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

log = logging.getLogger("kimpbot.control.discord")

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"

__all__ = ["DEFAULT_DISCORD_API_BASE", "get_discord_api_base", "set_discord_api_base", "set_discord_gateway"]

DEFAULT_DISCORD_GATEWAY = "wss://gateway.discord.gg/"


def set_discord_gateway(url: str | None) -> None:
    """Where discord.py's gateway WebSocket connects: ``DiscordWebSocket.DEFAULT_GATEWAY``, a class
    attribute a single (unsharded) ``Client.connect`` uses as is (it never asks ``GET /gateway/bot``).
    ``None`` restores Discord's. Process-wide, like ``Route.BASE``."""
    import yarl
    from discord.gateway import DiscordWebSocket

    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url or DEFAULT_DISCORD_GATEWAY)


def set_discord_api_base(api_url: str | None) -> None:
    """Point discord.py's REST traffic (webhooks included) at ``api_url``.

    ``api_url`` is the versioned API root, e.g. ``"https://discord.com/api/v10"`` or a local fake's
    ``"http://127.0.0.1:PORT/api/v10"``. ``None`` or ``""`` restores the default.
    """
    from discord.http import Route

    if not api_url:
        Route.BASE = DEFAULT_DISCORD_API_BASE
        set_discord_gateway(None)
        return
    url = api_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("DISCORD_API_URL must be an absolute http(s) URL such as https://discord.com/api/v10")
    if parts.query or parts.fragment:
        raise ValueError("DISCORD_API_URL must not carry a query or fragment")
    if not re.search(r"/api/v\d+$", parts.path):
        log.warning("DISCORD_API_URL %s does not end in /api/v<N>; Discord's paths are appended to it as is",
                    url)
    Route.BASE = url


def get_discord_api_base() -> str:
    from discord.http import Route

    return Route.BASE
