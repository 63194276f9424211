"""The sampler's pace: its CPU under its duty of the wall time, in steps, unless told to hurry."""

from routerguard.account import pacing
from routerguard.account.pacing import Pacer


class Clocks:
    """A job that spends 50 µs of CPU (and of wall time) per item, a flow's order; sleeping moves the wall clock
    only."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.sleeps: list[float] = []

    def work(self) -> None:
        self.wall += 0.00005
        self.cpu += 0.00005

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.wall += seconds


def pacer(clocks: Clocks, duty: float, hurry=lambda: False) -> Pacer:
    return Pacer(duty, hurry, clock=lambda: clocks.wall, cpu=lambda: clocks.cpu, sleep=clocks.sleep)


def test_the_job_rests_so_its_cpu_stays_under_its_duty():
    clocks = Clocks()
    pace = pacer(clocks, 0.1)
    for _ in pace.paced(range(pacing.EVERY * 40)):
        clocks.work()
    assert clocks.sleeps  # it rested, in steps
    assert max(clocks.sleeps) < 0.1  # never long: a step's CPU is a few ms
    assert clocks.cpu / clocks.wall <= 0.1 * 1.1  # the last step's CPU is not rested yet
    assert abs(pace.slept - sum(clocks.sleeps)) < 1e-9


def test_a_job_in_a_hurry_does_not_rest():
    clocks = Clocks()
    pace = pacer(clocks, 0.1, hurry=lambda: True)
    for _ in pace.paced(range(pacing.EVERY * 40)):
        clocks.work()
    assert clocks.sleeps == [] and pace.slept == 0


def test_time_the_job_could_not_run_counts_as_rest():
    """Under a CPU quota the job waits without spending: that wait is rest already."""
    clocks = Clocks()
    pace = pacer(clocks, 0.5)
    for n in pace.paced(range(pacing.EVERY * 40)):
        clocks.work()
        clocks.wall += 0.0001  # descheduled
    assert clocks.sleeps == []
