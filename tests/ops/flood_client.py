"""A hung-connection flood against an HTTP port, run as a separate process (its own descriptors).

``python flood_client.py PORT IDLE SLOW SECONDS``: IDLE connections that send nothing, SLOW ones
that trickle a never-ending header one byte at a time ("slowloris"); each reconnects as soon as
the server closes it, for SECONDS. Prints one JSON line of counts at the end."""

from __future__ import annotations

import asyncio
import json
import resource
import sys


async def main(port: int, idle: int, slow: int, seconds: float) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stats = {"connects": 0, "closed_by_server": 0, "connect_errors": 0}
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def one(trickle: bool) -> None:
        while loop.time() < end:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                stats["connect_errors"] += 1
                await asyncio.sleep(0.05)
                continue
            stats["connects"] += 1
            try:
                if trickle:
                    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                while loop.time() < end:
                    if trickle:
                        writer.write(b"a")
                        await writer.drain()
                    try:
                        data = await asyncio.wait_for(reader.read(1024), timeout=0.3)
                    except asyncio.TimeoutError:
                        continue
                    if not data:
                        stats["closed_by_server"] += 1
                        break
            except OSError:
                stats["closed_by_server"] += 1
            finally:
                writer.close()

    await asyncio.gather(*[one(False) for _ in range(idle)], *[one(True) for _ in range(slow)])
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
