"""bench/delay.py LISTEN_PORT TARGET_PORT DELAY_MS: a TCP proxy on
127.0.0.1 that delays every byte by DELAY_MS in each direction, order
kept: bench/netem.sh's stand-in for tc netem on a kernel without sch_netem
(a round trip through it costs 2 x DELAY_MS plus its own work).  Prints
"ready" once it listens."""

import asyncio
import collections
import selectors
import socket
import sys


# select() returns, and the loop runs the timer, about this late: a timer
# is set this much before the due time, so that the delay is DELAY_MS on
# average and not DELAY_MS plus a wake-up
EARLY = 0.00015


class Delayed:
    """One direction: writes what it is given DELAY later, in order."""

    def __init__(self, loop, delay):
        self.loop, self.delay = loop, delay
        self.queue = collections.deque()
        self.transport = None
        self.timer = None

    def send(self, data):
        self.queue.append((self.loop.time() + self.delay, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0] - EARLY,
                                           self.flush)

    def flush(self):
        self.timer = None
        now = self.loop.time() + EARLY
        while self.queue and self.queue[0][0] <= now:
            if self.transport is None:
                break
            self.transport.write(self.queue.popleft()[1])
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0] - EARLY,
                                           self.flush)


class Side(asyncio.Protocol):
    def __init__(self, out, other=None):
        self.out = out          # where what this side receives goes
        self.other = other      # the Side at the other end
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.out.send(data)

    def connection_lost(self, exc):
        if self.other is not None and self.other.transport is not None:
            self.other.transport.close()


def main():
    listen, target, delay = (int(sys.argv[1]), int(sys.argv[2]),
                             float(sys.argv[3]) / 1000)
    # select(2) takes microseconds where epoll_wait(2) takes milliseconds
    # (a 0.5 ms wait would be one): fine for the hundred-odd connections
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())

    def client():
        up = Delayed(loop, delay)       # client -> Redis
        down = Delayed(loop, delay)     # Redis -> client
        c = Side(up)

        async def connect():
            _, u = await loop.create_connection(lambda: Side(down, c),
                                                "127.0.0.1", target)
            c.other = u
            up.transport = u.transport
            down.transport = c.transport
            up.flush()

        loop.create_task(connect())
        return c

    server = loop.run_until_complete(
        loop.create_server(client, "127.0.0.1", listen, backlog=1024))
    print("ready", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


main()
