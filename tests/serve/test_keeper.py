"""PageKeeper: the page's servers follow the addresses in force; one that cannot bind is retried, never fatal."""

import errno
import logging

from routerguard.serve.keeper import RETRY, PageKeeper


class FakeServer:
    def __init__(self, world, service, listen):
        (self.address,) = listen
        if self.address[0] in world.unbindable:
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        self.world, self.running = world, False
        world.made.append(self.address)

    def start(self):
        self.running = True

    def stop(self):
        self.running = False
        self.world.stopped.append(self.address)


class World:
    def __init__(self):
        self.unbindable, self.made, self.stopped, self.now = set(), [], [], 0.0

    def keeper(self):
        return PageKeeper(None, make=lambda service, listen: FakeServer(self, service, listen), clock=lambda: self.now)


A, B = ("192.168.8.1", 8080), ("192.168.77.1", 8080)


def test_serves_each_address_and_moves_with_them():
    world = World()
    keeper = world.keeper()
    keeper.ensure((A,))
    assert keeper.serving == (A,)
    keeper.ensure((A,))
    assert world.made == [A]  # nothing rebound while nothing changed
    keeper.ensure((B,))
    assert keeper.serving == (B,) and world.stopped == [A]
    keeper.stop()
    assert keeper.serving == () and world.stopped == [A, B]


def test_an_address_that_will_not_bind_is_logged_once_and_retried(caplog):
    world = World()
    world.unbindable.add(B[0])
    keeper = world.keeper()
    with caplog.at_level(logging.INFO, logger="routerguard"):
        keeper.ensure((A, B))
        keeper.ensure((A, B))
        world.now += RETRY
        keeper.ensure((A, B))
    assert keeper.serving == (A,)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "192.168.77.1:8080" in errors[0].getMessage()
    world.unbindable.clear()
    keeper.ensure((A, B))
    assert keeper.serving == (A,)  # not yet: the next try is RETRY seconds after the last
    world.now += RETRY
    keeper.ensure((A, B))
    assert keeper.serving == (A, B)


def test_no_address_is_an_error_in_the_log_not_an_exception(caplog):
    world = World()
    keeper = world.keeper()
    with caplog.at_level(logging.ERROR, logger="routerguard"):
        keeper.ensure(())
        keeper.ensure(())
    assert keeper.serving == () and len(caplog.records) == 1
