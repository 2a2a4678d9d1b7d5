"""Queries made for every document synced, compiled once per thread instead of once per call.

Django builds and compiles a queryset's SQL each time it runs: for the sync's few statements per
document that cost more CPU than the statements themselves, and a worker's threads share one
interpreter lock (measured in `make bench`'s burst). A PreparedQuery compiles its queryset once
per thread and database, then only executes the SQL with the call's value; row_update writes
one shape of UPDATE from SQL built once per shape.
"""

import threading
from collections.abc import Callable
from functools import lru_cache

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# The value compiled into the SQL where each call's value goes, found again among the compiled
# parameters: an integer of the 32-bit range (Django compiles a lookup out of a column's range to
# no SQL at all) that no constant of the few queries prepared here equals.
MARKER = 2_147_480_647


class PreparedQuery:
    """A queryset with one integer value left open, compiled once per thread; run with a value.

    `build(value)` returns the queryset for that value; it is called once per thread, with MARKER.
    """

    def __init__(self, build: Callable[[int], QuerySet]):
        self._build = build
        self._local = threading.local()

    def _compiled(self, kind: str):
        # One compiler per thread: a compiler keeps the connection (thread-local) it was made with.
        cache = self._local.__dict__.setdefault("compiled", {})
        if kind not in cache:
            queryset = self._build(MARKER)
            query = queryset.query.exists(limit=True) if kind == "exists" else queryset.query
            compiler = query.get_compiler(using=queryset.db)
            sql, params = compiler.as_sql()  # also fills compiler.select and klass_info
            places = [i for i, param in enumerate(params) if param == MARKER]
            if len(places) != 1:
                raise ValueError(f"the prepared query has {len(places)} places for its value, not one")
            cache[kind] = (compiler, sql, list(params), places[0])
        return cache[kind]

    def _rows(self, kind: str, value: int) -> tuple[object, list]:
        compiler, sql, params, place = self._compiled(kind)
        params = params.copy()
        params[place] = value
        with connections[compiler.using].cursor() as cursor:
            cursor.execute(sql, params)
            return compiler, cursor.fetchall()

    def exists(self, value: int) -> bool:
        return bool(self._rows("exists", value)[1])

    def first(self, value: int) -> Model | None:
        """The first instance, with its select_related objects, as the queryset's iteration makes it."""
        compiler, rows = self._rows("rows", value)
        if not rows:
            return None
        # What django.db.models.query.ModelIterable does with a compiled query's rows.
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        row = next(iter(compiler.results_iter([rows[:1]])))
        instance = klass_info["model"].from_db(compiler.using, names, row[start:end])
        for populator in get_related_populators(klass_info, select, compiler.using):
            populator.populate(row, instance)
        return instance


def row_update(model: type[Model], where: dict[str, object], **values: object) -> int:
    """UPDATE model's rows matching `where` (equality with each value) to `values`; return how many.

    What QuerySet.filter(**where).update(**values) does for plain values (no expressions, no
    None in `where`), from SQL built once per shape.
    """
    db = router.db_for_write(model)
    connection = connections[db]
    sql, set_fields, where_fields = _update_sql(model, tuple(values), tuple(where), db)
    params = [field.get_db_prep_save(values[field.name], connection) for field in set_fields]
    params += [field.get_db_prep_value(where[name], connection) for name, field in where_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@lru_cache(maxsize=64)
def _update_sql(model: type[Model], set_names: tuple[str, ...], where_names: tuple[str, ...], db: str):
    quote = connections[db].ops.quote_name  # the same for every thread
    meta = model._meta
    set_fields = [meta.get_field(name) for name in set_names]
    where_fields = [(name, meta.pk if name == "pk" else meta.get_field(name)) for name in where_names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in set_fields)
    conditions = " AND ".join(f"{quote(field.column)} = %s" for _, field in where_fields)
    # Names from the model's fields, quoted; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
    return sql, set_fields, where_fields
