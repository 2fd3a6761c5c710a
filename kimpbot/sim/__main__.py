"""``python -m kimpbot.sim``: run the local fakes and print their env lines (Ctrl-C stops)."""

import asyncio

from kimpbot.sim.servers import serve_forever

try:
    asyncio.run(serve_forever())
except KeyboardInterrupt:
    pass
