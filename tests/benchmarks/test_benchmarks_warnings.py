"""Cheap warning emission: every record is still a typed ``warnings.warn`` and, when anything listens to
the ``imageshim`` logger (a handler up the chain, or a filter), one log line; with logging left
unconfigured (only the library's NullHandler) no LogRecord is built for nobody."""

from __future__ import annotations

import logging

import pytest

import imageshim
from imageshim._core.warnings import WarningRecord, emit, logger

RECORDS = [
    WarningRecord("option_mapped", "size", "1792x1024", "1536x1024", "size 1792x1024 -> 1536x1024"),
    WarningRecord("option_dropped", "style", "vivid", None, "style 'vivid' was not sent"),
]


def _count_records(monkeypatch: pytest.MonkeyPatch) -> list[logging.LogRecord]:
    made: list[logging.LogRecord] = []
    real = logger.makeRecord

    def make(*args: object, **kwargs: object) -> logging.LogRecord:
        record = real(*args, **kwargs)  # type: ignore[arg-type]
        made.append(record)
        return record

    monkeypatch.setattr(logger, "makeRecord", make)
    return made


def test_each_warning_is_logged_once_when_a_handler_listens(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="imageshim")
    with pytest.warns(imageshim.OptionMappedWarning), pytest.warns(imageshim.OptionDroppedWarning):
        emit(RECORDS)
    lines = [r.getMessage() for r in caplog.records if r.name == "imageshim"]
    assert lines == [
        "OptionMappedWarning: size 1792x1024 -> 1536x1024",
        "OptionDroppedWarning: style 'vivid' was not sent",
    ]


def test_no_log_record_is_built_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logger, "propagate", False)  # cut off the root logger (pytest's own handlers)
    assert all(isinstance(h, logging.NullHandler) for h in logger.handlers)
    made = _count_records(monkeypatch)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        emit(RECORDS)
    assert made == []
    assert [type(w.message) for w in caught] == [
        imageshim.OptionMappedWarning,
        imageshim.OptionDroppedWarning,
    ]
    assert [w.message.record for w in caught if isinstance(w.message, imageshim.ImageShimWarning)] == RECORDS


def test_a_filter_or_own_handler_counts_as_listening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logger, "propagate", False)
    made = _count_records(monkeypatch)
    seen: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return True

    logger.addFilter(keep)
    try:
        with pytest.warns(imageshim.ImageShimWarning):
            emit(RECORDS[:1])
    finally:
        logger.removeFilter(keep)
    assert seen == ["OptionMappedWarning: size 1792x1024 -> 1536x1024"]

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        with pytest.warns(imageshim.ImageShimWarning):
            emit(RECORDS[:1])
    finally:
        logger.removeHandler(handler)
    assert lines == ["OptionMappedWarning: size 1792x1024 -> 1536x1024"]
    assert len(made) == 2


def test_disabled_logging_builds_no_record(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _count_records(monkeypatch)
    logging.disable(logging.WARNING)
    try:
        with pytest.warns(imageshim.ImageShimWarning):
            emit(RECORDS[:1])
    finally:
        logging.disable(logging.NOTSET)
    assert made == []
