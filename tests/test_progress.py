"""The progress bar: its line, its estimate, and log records that interleave with it."""

import io
import logging

from pdafpy.progress import ProgressBar, format_duration


def test_durations_read_as_a_person_writes_them():
    assert format_duration(42.4) == "42 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(7620) == "2 h 07 min"


def test_the_line_shows_the_fraction_done_and_estimates_the_time_left_from_this_run():
    bar = ProgressBar(30, stream=io.StringIO(), enabled=True, width=10)
    bar.start(done=10)                       # e.g. restarted after 10 cycles
    line = bar.line(20, "day 20 of 30", elapsed=60.0)
    assert line.startswith("[######----] 20/30 day 20 of 30  1 min 00 s")
    assert line.endswith("~1 min 00 s left")  # 10 steps in 60 s, 10 to go
    assert "left" not in bar.line(30, elapsed=90.0)
    bar.close()


def test_log_records_erase_the_bar_and_are_never_appended_to_its_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        bar = ProgressBar(4, stream=stream, enabled=True)
        bar.update(1, "day 1")
        logging.getLogger("pdafpy.test").warning("a record")
        bar.update(2, "day 2")
        bar.close()
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert "day 1" in text and "\r\x1b[Ka record\n" in text
    assert text.endswith("\n") and handler.filters == []


def test_the_bar_is_off_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(3, stream=stream)
    bar.update(1)
    bar.close()
    assert not bar.enabled and stream.getvalue() == ""
