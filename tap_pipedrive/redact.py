"""Secrets stay out of logs and error lines, whatever prints them.

The secret settings (those the config schema flags `secret`) are cleaned once the settings
are read (`clean`): surrounding whitespace stripped (`$(cat file)` and secret mounts often
end in a line break), and a value that still holds a control character refused in one line
that does not show it (a line break inside a token would end an HTTP header and start
another). Their values, and any secret added later (`add`), are then masked in every log
record, whichever logger or handler it goes to (a record factory, plus a filter on the
handlers that exist at `install`), in uncaught tracebacks, and in the one-line errors
(`mask`, used by cli.py).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from typing_extensions import override

from tap_pipedrive.errors import ConfigError

MASK = "[redacted]"
MIN_LENGTH = 8  # shorter values are no real secrets; masking them garbles words ("other")

_secrets: list[str] = []  # longest first, so one holding another is masked whole
_lock = threading.Lock()
_installed = False


def secret_names(schema: Mapping[str, Any]) -> list[str]:
    """The settings the schema flags `secret`."""
    return [name for name, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, Mapping) and prop.get("secret")]


def clean(config: MutableMapping[str, Any], names: Iterable[str]) -> None:
    """Strip the secret settings in place, refuse one holding a control character, and
    mask every value from now on."""
    for name in names:
        value = config.get(name)
        if not isinstance(value, str):
            continue
        add(value)  # masked as given and stripped
        value = config[name] = value.strip()
        if not value.isprintable():
            raise ConfigError(
                f"{name} holds a line break, tab or other control character inside it (the "
                "value is not shown): check how it is passed, e.g. a file with several lines")


def add(*values: str | None) -> None:
    """Mask these values from now on (e.g. tokens obtained during the run)."""
    global _secrets
    with _lock:
        known = set(_secrets)
        for value in values:
            if isinstance(value, str) and len(value.strip()) >= MIN_LENGTH:
                known.update((value, value.strip()))
        _secrets = sorted(known, key=len, reverse=True)


def mask(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _has_secret(text: str) -> bool:
    return any(secret in text for secret in _secrets)


def redact_record(record: logging.LogRecord) -> None:
    """Mask the record's message and its traceback, in place (masking twice is harmless)."""
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the handler's to report
        return
    extra = ""
    if record.exc_info and record.exc_info[1] is not None:
        formatted = "".join(traceback.format_exception(*record.exc_info))
        if _has_secret(formatted):  # no formatter may see the exception itself
            extra = "\n" + formatted.rstrip("\n")
            record.exc_info = record.exc_text = None
    elif record.exc_text and _has_secret(record.exc_text):
        extra, record.exc_text = "\n" + record.exc_text, None
    if record.stack_info and _has_secret(record.stack_info):
        record.stack_info = mask(record.stack_info)
    if extra or _has_secret(message):
        record.msg, record.args = mask(message + extra), None


class RedactingFilter(logging.Filter):
    @override
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Once per process: every log record masked as it is made, the handlers there are
    filtered too, and uncaught tracebacks masked."""
    global _installed
    with _lock:
        if _installed:
            _filter_handlers()  # handlers configured since
            return
        _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    _filter_handlers()
    excepthook, thread_hook = sys.excepthook, threading.excepthook

    def masked_excepthook(kind: Any, value: Any, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        if not _has_secret(text):
            excepthook(kind, value, tb)
            return
        sys.stderr.write(mask(text))

    def masked_thread_hook(args: Any) -> None:
        if args.exc_value is not None and _has_secret(
                "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                   args.exc_traceback))):
            masked_excepthook(args.exc_type, args.exc_value, args.exc_traceback)
            return
        thread_hook(args)

    sys.excepthook = masked_excepthook
    threading.excepthook = masked_thread_hook


def _filter_handlers() -> None:
    loggers = [logging.getLogger()] + [
        logger for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in list(logger.handlers):
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
