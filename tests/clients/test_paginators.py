"""Paginators without I/O: where each API's lists end, and loops refused."""

from __future__ import annotations

import pytest

from clients.paging import PageNumberPaginator, PaginationLoopError, RackbeatPaginator


def test_rackbeat_walks_to_the_last_page() -> None:
    paginator = RackbeatPaginator(limit=200)
    assert paginator.advance({"page": 1, "pages": 3}, 200) is True
    assert paginator.page == 2
    assert paginator.advance({"page": 2, "pages": 3}, 200) is True
    assert paginator.advance({"page": 3, "pages": 3}, 17) is False
    assert paginator.page == 3


def test_rackbeat_stops_at_an_empty_page() -> None:
    assert RackbeatPaginator(limit=200).advance({"page": 1, "pages": 9}, 0) is False


def test_rackbeat_without_page_metadata_a_full_page_means_read_on() -> None:
    paginator = RackbeatPaginator(limit=5)
    assert paginator.advance({}, 5) is True
    assert paginator.page == 2
    assert paginator.advance({"page": 2}, 4) is False


def test_rackbeat_refuses_a_page_it_has_seen() -> None:
    paginator = RackbeatPaginator(limit=200)
    paginator.advance({"page": 1, "pages": 5}, 20)
    with pytest.raises(PaginationLoopError, match="page 1 came back twice"):
        paginator.advance({"page": 1, "pages": 5}, 20)


def test_poweroffice_stops_on_204() -> None:
    assert PageNumberPaginator(page_size=100).advance(status=204, item_count=0) is False


def test_poweroffice_stops_on_a_short_page() -> None:
    paginator = PageNumberPaginator(page_size=100)
    assert paginator.advance(status=200, item_count=100, first_key=1) is True
    assert paginator.page == 2
    assert paginator.advance(status=200, item_count=99, first_key=101) is False


def test_poweroffice_stops_on_an_empty_page() -> None:
    assert PageNumberPaginator(page_size=100).advance(status=200, item_count=0) is False


def test_poweroffice_refuses_a_repeated_page() -> None:
    paginator = PageNumberPaginator(page_size=2)
    paginator.advance(status=200, item_count=2, first_key=7)
    with pytest.raises(PaginationLoopError, match="page 2 repeats the previous page"):
        paginator.advance(status=200, item_count=2, first_key=7)


def test_poweroffice_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="page_size must be >= 1"):
        PageNumberPaginator(page_size=0)
