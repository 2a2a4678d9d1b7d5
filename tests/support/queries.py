"""Query counts of the admin's lists: a list costs as many queries for thirty rows as for one."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

ROWS = 30


def queries_for(client, url: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response


def assert_constant(client, url: str, add_rows, first) -> None:
    first()
    client.get(url)  # warm-up: whatever a first request caches
    one, response = queries_for(client, url)
    assert response.context["cl"].result_count == 1
    for number in range(1, ROWS):
        add_rows(number)
    many, response = queries_for(client, url)
    assert response.context["cl"].result_count == ROWS
    assert many == one, f"{url}: {one} queries for 1 row, {many} for {ROWS}"
