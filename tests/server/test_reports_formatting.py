"""Figures as a Vietnamese official reads them."""

from signage_server.reports import formatting as f


def test_vietnamese_numbers_hours_and_durations() -> None:
    assert f.number(1234567.891, 2) == "1.234.567,89"
    assert f.percent(98.5) == "98,5 %" and f.percent(None) == "—"
    assert f.hours(45_452.96 * 60) == "757,5 giờ"  # the 45,452.96 minutes
    assert f.hours(150) == "2,5 phút" and f.hours(0) == "0 giờ"
    assert f.duration(2 * 86400 + 3 * 3600 + 120) == "2 ngày 3 giờ"
    assert f.duration(4 * 3600 + 5 * 60) == "4 giờ 5 phút" and f.duration(20) == "dưới 1 phút"
