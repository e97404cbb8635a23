"""Paging: v2 cursors and v1 offsets, and the check that a walk never reads a page twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_pipedrive.errors import TapPipedriveError

_T = TypeVar("_T")

PAGE_SIZE = 500  # the largest page Pipedrive serves; fewer calls, fewer tokens


class PagingLoop(TapPipedriveError):
    """The API's paging goes round in circles, or makes no progress."""


class Revisited(Exception):
    """A paginator was pointed at a page it already read (cursor or offset, and where)."""

    def __init__(self, token: Any, first: int, now: int) -> None:
        super().__init__(token, first, now)
        self.token, self.first, self.now = token, first, now


def token_text(token: Any) -> str:
    """A paging token as an error line names it: `offset N`, or the cursor's start."""
    if isinstance(token, int):
        return f"offset {token}"
    text = str(token)
    return f"cursor {text[:40]!r}" + ("..." if len(text) > 40 else "")


class _Paginator(BaseAPIPaginator[_T]):
    """The paging of one walk: it stops early when the stream says so (`keep_paging`), and a
    cursor or offset already used in this walk is a loop (`Revisited`), found before the SDK's
    own check (the previous token only; then a RuntimeError traceback)."""

    def __init__(self, start_value: _T, keep_paging: Callable[[], bool]) -> None:
        super().__init__(start_value)
        self.keep_paging = keep_paging
        self._pages_of: dict[Any, int] = {start_value: 1}  # token -> the page it leads to

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self.keep_paging()

    def _checked(self, token: Any) -> Any:
        if not isinstance(token, (str, int)) or isinstance(token, bool):
            return None  # no next page
        now = self.count  # the page just read
        if token in self._pages_of:
            raise Revisited(token, self._pages_of[token], now)
        self._pages_of[token] = now + 1
        return token


class CursorPaginator(_Paginator[str | None]):
    """v2 cursor paging (`additional_data.next_cursor`)."""

    def __init__(self, keep_paging: Callable[[], bool]) -> None:
        super().__init__(None, keep_paging)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        cursor = response.page.additional.get("next_cursor")  # type: ignore[attr-defined]
        return self._checked(cursor if isinstance(cursor, (str, int)) else None)


class V1OffsetPaginator(_Paginator[int]):
    """v1 offset paging: `start`/`limit`. Whether more exist is in `additional_data.pagination`
    (most endpoints), in `additional_data` itself (leads, deal participants), or nowhere
    (mail threads: then a full page means there may be more)."""

    def __init__(self, page_size: int = PAGE_SIZE,
                 keep_paging: Callable[[], bool] = lambda: True) -> None:
        super().__init__(0, keep_paging)
        self.page_size = page_size

    @override
    def get_next(self, response: requests.Response) -> int | None:
        additional = response.page.additional  # type: ignore[attr-defined]
        paging = additional.get("pagination") or additional
        start = self.current_value or 0
        if "more_items_in_collection" not in paging:
            full = len(response.page.items() or []) >= self.page_size  # type: ignore[attr-defined]
            return start + self.page_size if full else None
        if not paging["more_items_in_collection"]:
            return None
        return self._checked(paging.get("next_start")
                             or start + (paging.get("limit") or self.page_size))
