"""Cost of the schedule evaluator for one screen with 300 rules, against a minute-by-minute baseline."""

from __future__ import annotations

import random
import statistics
import time as clock
from datetime import UTC, date, datetime, time, timedelta

from signage_core.schedule import (
    LunarDate,
    ScheduleRule,
    Segment,
    SolarDate,
    TimeWindow,
    evaluate,
    next_change,
    timeline,
)

RULES = 300
DAYS = 7
START = datetime(2026, 2, 9, 17, 0, tzinfo=UTC)  # local midnight, the week of Tết 2026


def make_rules(count: int, rng: random.Random) -> list[ScheduleRule]:
    """A plausible mix: campaigns with date ranges, weekday slots, overnight windows, holidays."""
    rules = []
    for i in range(count):
        windows: tuple[TimeWindow, ...] = ()
        if rng.random() < 0.7:
            windows = tuple(
                TimeWindow(start=time(h, rng.choice((0, 15, 30, 45))), end=time((h + rng.randint(1, 6)) % 24))
                for h in rng.sample(range(24), rng.randint(1, 3))
            )
        start = date(2026, 1, 1) + timedelta(days=rng.randint(0, 60))
        dates: tuple[SolarDate | LunarDate, ...] = ()
        if rng.random() < 0.1:
            dates = (LunarDate(day=rng.randint(1, 15), month=rng.randint(1, 3)),)
        elif rng.random() < 0.1:
            dates = (SolarDate(day=rng.randint(1, 28), month=rng.randint(1, 12)),)
        rules.append(ScheduleRule(
            id=f"rule-{i}",
            playlist_id=f"playlist-{rng.randint(0, 40)}",
            priority=rng.randint(0, 5),
            start_date=start,
            end_date=start + timedelta(days=rng.randint(1, 90)),
            weekdays=frozenset(rng.sample(range(7), rng.randint(1, 7))) if rng.random() < 0.5 else None,
            windows=windows,
            dates=dates,
        ))
    return rules


def naive_timeline(rules: list[ScheduleRule], default: str, start: datetime, end: datetime) -> list[Segment]:
    """Baseline: evaluate every minute and merge; only exact when rules change on whole minutes."""
    segments: list[Segment] = []
    moment, step = start, timedelta(minutes=1)
    current = evaluate(rules, default, moment)
    seg_start = moment
    while moment < end:
        moment += step
        result = evaluate(rules, default, moment) if moment < end else None
        if result is None or result.playlist_ids != current.playlist_ids:
            segments.append(Segment(start=seg_start, end=moment, playlist_ids=current.playlist_ids,
                                    is_default=current.is_default))
            if result is not None:
                current, seg_start = result, moment
    return segments


def timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = clock.perf_counter()
        fn()  # type: ignore[operator]
        out.append(clock.perf_counter() - t0)
    return out


def main() -> None:
    rng = random.Random(4)
    rules = make_rules(RULES, rng)
    end = START + timedelta(days=DAYS)
    timeline(rules, "default", START, end)  # warm the lunar cache, as a long-running process would

    instants = [START + timedelta(seconds=rng.randint(0, DAYS * 86400)) for _ in range(2000)]
    t0 = clock.perf_counter()
    for at in instants:
        evaluate(rules, "default", at)
    per_eval = (clock.perf_counter() - t0) / len(instants)

    t0 = clock.perf_counter()
    for at in instants[:200]:
        next_change(rules, at)
    per_next = (clock.perf_counter() - t0) / 200

    fast = timed(lambda: timeline(rules, "default", START, end), 10)
    segments = timeline(rules, "default", START, end)
    t0 = clock.perf_counter()
    baseline = naive_timeline(rules, "default", START, end)
    naive = clock.perf_counter() - t0
    same = [(s.start, s.end, s.playlist_ids) for s in segments] == [
        (s.start, s.end, s.playlist_ids) for s in baseline
    ]

    print(f"rules per screen: {RULES}, horizon: {DAYS} days, segments: {len(segments)}")
    print(f"evaluate(): {per_eval * 1e6:.0f} us per call (mean of {len(instants)})")
    print(f"next_change(): {per_next * 1e3:.2f} ms per call (mean of 200)")
    print(f"timeline() {DAYS} days: median {statistics.median(fast) * 1e3:.1f} ms, "
          f"min {min(fast) * 1e3:.1f} ms (10 runs)")
    print(f"naive minute-by-minute baseline: {naive * 1e3:.0f} ms "
          f"({naive / statistics.median(fast):.0f}x slower), same segments: {same}")


if __name__ == "__main__":
    main()
