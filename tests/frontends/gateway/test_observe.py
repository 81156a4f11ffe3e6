"""The gateway's logging: one format for imageshim, uvicorn and the access line; every line redacted."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from imageshim._core.errors import register_secret
from imageshim._frontends.gateway.observe import ACCESS_FIELDS, configure_logging, log_access
from imageshim._frontends.gateway.record import AccessRecord, Generation, client_hash

SECRET = "gw-observe-SECRET-7f3a9c1d2e4b5a6f"
_TOUCHED = (
    "imageshim",
    "imageshim.access",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
)
_TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
)


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back as they were."""
    saved = {}
    for name in _TOUCHED:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


@pytest.fixture
def secret() -> str:
    register_secret(SECRET)
    return SECRET


def _record(**kwargs: object) -> AccessRecord:
    values: dict[str, object] = {
        "method": "POST",
        "route": "/v1/images/generations",
        "status": 200,
        "duration_s": 1.2344,
        "client": client_hash("client-key"),
        "request_id": "req_abc123",
        "requested_model": "dall-e-3",
        "generation": Generation("openai:gpt-image-2", images=1, cost_usd=0.211, provider_calls=1),
        "intent": "new",
    }
    values.update(kwargs)
    return AccessRecord(**values)  # type: ignore[arg-type]


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_access_line() -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    log_access(_record())
    (line,) = _lines(stream)
    assert _TEXT_LINE.match(line)
    assert line.endswith(
        " INFO imageshim.access: POST /v1/images/generations 200 model=dall-e-3 served=openai:gpt-image-2 "
        f"images=1 cost_usd=0.211000 duration_ms=1234 client={client_hash('client-key')} intent=new "
        "request_id=req_abc123"
    )


def test_text_access_line_leaves_absent_fields_out() -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    log_access(AccessRecord("GET", "/metrics", 401, 0.0004, "anonymous"))
    (line,) = _lines(stream)
    assert line.endswith(" INFO imageshim.access: GET /metrics 401 duration_ms=0 client=anonymous")


def test_text_access_line_quotes_client_values() -> None:
    """A model name a client chose cannot start a forged line or a forged field."""
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    log_access(
        _record(requested_model="x\n2026-01-01T00:00:00.000Z INFO imageshim.access: GET / 200 served=y")
    )
    (line,) = _lines(stream)
    assert 'model="x\\n2026-01-01T00:00:00.000Z INFO imageshim.access: GET / 200 served=y" ' in line


def test_json_access_line_has_the_fields_as_keys() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log_access(_record())
    (line,) = _lines(stream)
    obj = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj.pop("ts"))
    assert obj.pop("message").startswith("POST /v1/images/generations 200 model=dall-e-3 ")
    assert obj == {
        "level": "INFO",
        "logger": "imageshim.access",
        "method": "POST",
        "route": "/v1/images/generations",
        "status": 200,
        "model": "dall-e-3",
        "served": "openai:gpt-image-2",
        "images": 1,
        "cost_usd": 0.211,
        "duration_ms": 1234,
        "client": client_hash("client-key"),
        "intent": "new",
        "request_id": "req_abc123",
    }
    assert set(obj) - {"level", "logger"} == set(ACCESS_FIELDS)


def test_joined_access_line_has_no_cost() -> None:
    """Summing cost_usd over the log counts each generation once."""
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log_access(_record(joined=True, intent="joined"))
    log_access(_record(joined=True, intent="replayed"))
    for line in _lines(stream):
        obj = json.loads(line)
        assert "cost_usd" not in obj
        assert "cost_usd=" not in obj["message"]
        assert obj["images"] == 1
    assert [json.loads(line)["intent"] for line in _lines(stream)] == ["joined", "replayed"]


def test_access_line_never_holds_the_client_key(secret: str) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log_access(_record(client=client_hash(secret), request_id=f"echo-{secret}"))
    log_access(_record(requested_model=f"Bearer {secret}"))
    out = stream.getvalue()
    assert secret not in out
    assert secret[:12] not in out
    assert client_hash(secret) in out
    for line in _lines(stream):
        json.loads(line)


def test_text_line_shape_for_imageshim_and_uvicorn() -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    logging.getLogger("imageshim").warning("OptionDroppedWarning: %s", "style dropped")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("uvicorn").info("Started server process")
    assert [_TEXT_LINE.sub("", line, count=1) for line in _lines(stream)] == [
        "OptionDroppedWarning: style dropped",
        "Application startup complete.",
        "Started server process",
    ]
    assert [line.split(" ", 2)[1:] for line in _lines(stream)] == [
        ["WARNING", "imageshim: OptionDroppedWarning: style dropped"],
        ["INFO", "uvicorn.error: Application startup complete."],
        ["INFO", "uvicorn: Started server process"],
    ]


def test_json_lines_for_other_loggers_have_the_four_keys() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("imageshim").warning("hello %s", "there")
    logging.getLogger("uvicorn.error").info("Started", extra={"color_message": "\x1b[1mStarted\x1b[0m"})
    objs = [json.loads(line) for line in _lines(stream)]
    assert [{k: v for k, v in obj.items() if k != "ts"} for obj in objs] == [
        {"level": "WARNING", "logger": "imageshim", "message": "hello there"},
        {"level": "INFO", "logger": "uvicorn.error", "message": "Started"},
    ]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_messages_and_tracebacks_are_redacted(fmt: str, secret: str) -> None:
    stream = io.StringIO()
    configure_logging(fmt, stream=stream)  # type: ignore[arg-type]
    logging.getLogger("imageshim").warning("provider said: invalid key %s", secret)
    logging.getLogger("uvicorn.error").error("half a key: %s", secret[3:20])
    logging.getLogger("httpx").warning("header Authorization: Bearer sk-unregistered-not-a-real-key")
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logging.getLogger("imageshim").exception("unexpected error")
    logging.getLogger("imageshim").error("with stack %s", secret, stack_info=True)
    out = stream.getvalue()
    assert secret not in out
    assert secret[3:20] not in out
    assert "sk-unregistered-not-a-real-key" not in out
    assert out.count("[REDACTED]") >= 5
    assert "RuntimeError: failed with [REDACTED]" in (
        out if fmt == "text" else "\n".join(json.loads(line).get("exc", "") for line in _lines(stream))
    )
    if fmt == "json":
        objs = [json.loads(line) for line in _lines(stream)]
        assert len(objs) == 5
        assert "Traceback (most recent call last)" in objs[3]["exc"]
        assert "stack" in objs[4]


def test_secrets_with_json_special_characters_are_redacted() -> None:
    odd = 'gw-odd"secret\\value-0123456789'
    register_secret(odd)
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("imageshim").warning("value %s", odd)
    (line,) = _lines(stream)
    assert json.loads(line)["message"] == "value [REDACTED]"


def test_a_secret_that_appears_only_through_json_escaping_withholds_the_line() -> None:
    """The line is redacted again as written; when that breaks the JSON, the line says it was withheld."""
    escaped = "zq-esc7\\"  # its one 8-character piece ends with a backslash
    register_secret(escaped)
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("imageshim").warning('text zq-esc7"quoted')  # written as zq-esc7\"quoted
    (line,) = _lines(stream)
    obj = json.loads(line)
    assert escaped not in line
    assert obj["message"] == "[REDACTED: this line held a secret]"
    assert obj["level"] == "WARNING"
    assert obj["logger"] == "imageshim"


def test_third_party_debug_lines_are_not_written() -> None:
    """httpcore logs request headers at DEBUG: httpx and httpcore stay at WARNING even at level=DEBUG."""
    stream = io.StringIO()
    configure_logging("text", level=logging.DEBUG, stream=stream)
    logging.getLogger("httpcore.http11").debug("send_request_headers.started request=<Request [b'POST']>")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.openai.com/v1/images/generations")
    logging.getLogger("imageshim").debug("imageshim debug line")
    assert [line.split(": ", 1)[1] for line in _lines(stream)] == ["imageshim debug line"]
    assert logging.getLogger("httpcore").level == logging.WARNING
    assert logging.getLogger("httpx").level == logging.WARNING


def test_level_is_honoured() -> None:
    stream = io.StringIO()
    configure_logging("text", level=logging.WARNING, stream=stream)
    logging.getLogger("imageshim").info("not written")
    log_access(_record())
    logging.getLogger("uvicorn.error").info("not written either")
    logging.getLogger("imageshim").warning("written")
    assert [line.split(": ", 1)[1] for line in _lines(stream)] == ["written"]


def test_uvicorn_access_is_silenced() -> None:
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's default config leaves it
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    uvicorn_access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1234", "POST", "/v1/x", "1.1", 200)
    assert stream.getvalue() == ""
    assert not uvicorn_access.hasHandlers()  # uvicorn then does not even build its access line


def test_uvicorn_default_handlers_are_replaced() -> None:
    theirs = io.StringIO()
    logging.getLogger("uvicorn").addHandler(logging.StreamHandler(theirs))
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(theirs))
    ours = io.StringIO()
    configure_logging("text", stream=ours)
    logging.getLogger("uvicorn.error").warning("once")
    assert theirs.getvalue() == ""
    assert len(_lines(ours)) == 1


def test_configure_logging_is_idempotent() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", stream=first)
    configure_logging("json", stream=second)
    configure_logging("json", stream=second)
    for name in ("imageshim", "uvicorn", "httpx", "httpcore"):
        ours = [h for h in logging.getLogger(name).handlers if not isinstance(h, logging.NullHandler)]
        assert len(ours) == 1, name
    logging.getLogger("imageshim").warning("one line")
    logging.getLogger("uvicorn.error").warning("another")
    log_access(_record())
    assert first.getvalue() == ""
    assert [json.loads(line)["message"].split(" ")[0] for line in _lines(second)] == [
        "one",
        "another",
        "POST",
    ]


def test_root_logger_is_untouched() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level, [h.formatter for h in root.handlers])
    configure_logging("json", stream=io.StringIO())
    configure_logging("text", stream=io.StringIO())
    assert (list(root.handlers), root.level, [h.formatter for h in root.handlers]) == before


def test_lines_are_not_written_twice_through_the_root(caplog: pytest.LogCaptureFixture) -> None:
    """With the root configured too (caplog's handler sits there), each line is written once, by us."""
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    with caplog.at_level(logging.INFO):
        logging.getLogger("imageshim").warning("once only")
    assert len(_lines(stream)) == 1
    assert caplog.records == []


def test_without_configure_logging_access_lines_reach_the_host(caplog: pytest.LogCaptureFixture) -> None:
    """A host application that mounts create_app keeps its logging: the access record reaches its handlers
    with the fields as attributes."""
    with caplog.at_level(logging.INFO, logger="imageshim.access"):
        log_access(_record())
    (rec,) = caplog.records
    assert rec.name == "imageshim.access"
    assert rec.getMessage().startswith("POST /v1/images/generations 200 ")
    assert rec.status == 200  # type: ignore[attr-defined]
    assert rec.cost_usd == 0.211  # type: ignore[attr-defined]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text"):
        configure_logging("yaml", stream=io.StringIO())  # type: ignore[arg-type]
