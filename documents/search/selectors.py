"""Reads of full-text search: the ranked query the admin's Documents list uses, and its snippets.

On PostgreSQL the query is websearch_to_tsquery (phrases in quotes, `or`, `-word`) against the
stored search vector (one GIN index), plus a prefix match for words typed as `contract*` and for
the word being typed last; rank by ts_rank. SQLite (the embedded default) finds the words in the
text with a plain case-insensitive match.
"""

import operator
import re
from dataclasses import dataclass, field
from functools import reduce

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    JSONField,
    Lookup,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Substr
from django.utils.html import escape
from django.utils.text import smart_split, unescape_string_literal

from core.admin import rows_estimated
from sources.access import EVERY_SOURCE, SourceScope
from sources.models import SourceSync

from ..models import Document, DocumentText

# Private-use characters mark the highlight: the snippet is HTML-escaped whole, then only these
# become <mark>; extraction strips them from documents' text so a document cannot forge one.
MARK_START, MARK_STOP = "\ue000", "\ue001"
HEADLINE_OPTIONS = {
    "start_sel": MARK_START,
    "stop_sel": MARK_STOP,
    "max_words": 30,
    "min_words": 12,
    "max_fragments": 2,
}
TOKENS = re.compile(r'-?"[^"]*"?|\S+')
PREFIX_WORD = re.compile(r"^(-?)(\w+)\*+$")
PLAIN_WORD = re.compile(r"^\w{3,}$")
SNIPPET_CHARS = 120
# ts_headline parses all the text it is given: it gets PASSAGE_CHARS around the first typed word
# found, or when none is found as typed, the first HEADLINE_TEXT_CHARS characters.
HEADLINE_TEXT_CHARS = 20_000
PASSAGE_CHARS = 600
PASSAGE_BEFORE_CHARS = 240
ANCHOR_WORD = re.compile(r"\w{3,}")


@dataclass(frozen=True)
class ParsedTerm:
    words: str  # for websearch_to_tsquery
    prefixes: list[tuple[bool, str]]  # (negated, word) for to_tsquery('word:*')


def search_term_parse(term: str) -> ParsedTerm:
    """Split what a user typed into a websearch query and prefix words (safe: \\w+ only reach to_tsquery).

    `contract*` is a prefix anywhere; the last word, unquoted and typed without a space after it,
    is a prefix too (people search as they type). With `or` in the term, every word stays in the
    websearch query (splitting would change its meaning) and `*` is dropped.
    """
    tokens = TOKENS.findall(term)
    if any(token.lower() == "or" for token in tokens):
        return ParsedTerm(words=term.replace("*", " "), prefixes=[])
    words, prefixes = [], []
    for index, token in enumerate(tokens):
        match = PREFIX_WORD.match(token)
        if match:
            prefixes.append((bool(match[1]), match[2]))
        elif index == len(tokens) - 1 and not term.endswith(" ") and PLAIN_WORD.match(token):
            prefixes.append((False, token))
        else:
            words.append(token.replace("*", " "))
    return ParsedTerm(words=" ".join(words), prefixes=prefixes)


def search_query_build(term: str, *, config: str | None = None) -> SearchQuery | None:
    config = config or settings.SEARCH_CONFIG
    parsed = search_term_parse(term)
    query = None
    if parsed.words.strip():
        query = SearchQuery(parsed.words, search_type="websearch", config=config)
    for negated, word in parsed.prefixes:
        part = SearchQuery(f"{word}:*", search_type="raw", config=config)
        part = ~part if negated else part
        query = part if query is None else query & part
    return query


def documents_text_search(*, term: str, queryset: QuerySet | None = None) -> QuerySet:
    """The documents whose extracted text matches the term, annotated with `search_rank`, best first."""
    queryset = Document.objects.all() if queryset is None else queryset
    return documents_text_match(term=term, queryset=queryset).order_by("-search_rank", "-pk")


def documents_text_match(*, term: str, queryset: QuerySet, also: QuerySet | None = None) -> QuerySet:
    """Filter to text matches, annotated `search_rank`. On SQLite (the embedded default) `also`,
    the admin's name matches, are found too, unranked; PostgreSQL's admin search goes through
    documents_matches_bounded."""
    if connection.vendor != "postgresql":
        needle = term.replace("*", "").strip()
        match = Q(text_record__text__icontains=needle) if needle else Q(pk__in=[])
        if also is not None:
            match |= Q(pk__in=also.order_by().values("pk"))
        return queryset.filter(match).annotate(search_rank=Value(0.0, output_field=FloatField()))
    queries = _queries_by_config(term)
    if not queries:  # nothing searchable typed (`*`, `-`)
        return queryset.none().annotate(search_rank=Value(0.0, output_field=FloatField()))
    # A join driven by the GIN index.
    return queryset.filter(_vector_matches(queries, through="text_record__")).annotate(
        search_rank=_vector_rank(queries, through="text_record__")
    )


@dataclass(frozen=True)
class NameMatches:
    """The documents whose search fields hold every word of a term: those holding its rarest word,
    field by field (`rarest_by_field`, a query of documents each), tested for the `others`; `each_row`,
    the whole test as a filter of a document's row and its joins; `estimate`, how many the
    planner expects the rarest word to find."""

    rarest_by_field: list[QuerySet]
    others: list[Q]
    each_row: Q
    estimate: int

    @property
    def ids(self) -> QuerySet:
        by_field = [found.filter(*self.others).values("pk") for found in self.rarest_by_field]
        return by_field[0].union(*by_field[1:])

    def read(self, limit: int) -> list[int] | None:
        """Their keys, or None if the rarest word is in more than `limit` documents. The read is
        bounded (a document found by several fields comes once from each), so a common word stops
        early; the other words are tested in the same read, on the rows it finds, each a boolean
        of the row and the version and work item it is read with. (Filtering on them would not stop
        when they match few: "lease agreement" read every lease. A second query testing them looked
        each candidate up again: docs/performance.md.)"""
        matched = (
            ExpressionWrapper(reduce(operator.and_, self.others), output_field=BooleanField())
            if self.others
            else Value(True)
        )
        branches = [found.annotate(matched=matched).values_list("pk", "matched") for found in self.rarest_by_field]
        rows = branches[0].union(*branches[1:], all=True)
        candidates, found = set(), set()
        for pk, is_match in rows[: (limit + 1) * len(branches)]:
            candidates.add(pk)
            if is_match:
                found.add(pk)
        return None if len(candidates) > limit else sorted(found)


@dataclass(frozen=True)
class BoundedMatches:
    """How a search is listed. Past SEARCH_RANKED_MATCHES matches (`over`), newest first, with the
    planner's `estimate`. Under it, every match is known: the texts' ranks by document id and the
    name matches' ids, each read once."""

    over: bool
    estimate: int
    queries: dict[str, SearchQuery]  # the term's, by configuration: made once for the whole page
    ranks: dict[int, float] = field(default_factory=dict)
    names: list[int] | None = None  # None: too many to read, matched by their query instead

    def listed(self, queryset: QuerySet) -> QuerySet:
        """The known matches of `queryset`, annotated `search_rank` (0 for a name match only)."""
        ranks = Cast(
            Func(
                Value({str(pk): rank for pk, rank in self.ranks.items()}, output_field=JSONField()),
                Cast("pk", TextField()),
                arg_joiner=" ->> ",
                template="(%(expressions)s)",
            ),
            FloatField(),
        )
        found = queryset.filter(AnyOf(F("pk"), sorted({*self.ranks, *(self.names or [])})))
        return found.annotate(search_rank=Coalesce(ranks, Value(0.0)))


class AnyOf(Lookup):
    """`pk = ANY(%s)`: one array parameter however many ids (an IN list takes one per id)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def documents_matches_bounded(*, term: str, names: NameMatches, scope: SourceScope = EVERY_SOURCE) -> BoundedMatches:
    """Find a search's matches in the user's sources, reading as little as it can (PostgreSQL).

    Each side is read once and bounded: the name matches' ids, then the texts' ids with their
    ranks (ranking in the list's own query found the texts a second and a third time). Texts the
    planner expects far past the bound (SEARCH_ESTIMATE_TRUSTED_OVER times it) are not read:
    the search is listed newest first. (The names' estimate is not trusted so: an OR over eight
    fields is overestimated, and a list walked newest first for matches that are few reads every
    document.)
    """
    limit = settings.SEARCH_RANKED_MATCHES
    name_ids = names.read(limit)
    queries = _queries_by_config(term)
    texts = scope.filter(DocumentText.objects.filter(_vector_matches(queries))).order_by() if queries else None
    texts_estimate = (rows_estimated(texts) or 0) if texts is not None else 0
    estimate = texts_estimate + (len(name_ids) if name_ids is not None else names.estimate)
    if name_ids is None or texts_estimate > limit * settings.SEARCH_ESTIMATE_TRUSTED_OVER:
        return BoundedMatches(over=True, estimate=max(estimate, limit + 1), queries=queries, names=name_ids)
    ranks = {}
    if texts is not None:
        ranks = dict(texts.annotate(rank=_vector_rank(queries)).values_list("document_id", "rank")[: limit + 1])
    if len({*ranks, *name_ids}) > limit:  # counted past the bound: at least that many, whatever the plan says
        return BoundedMatches(over=True, estimate=max(estimate, limit + 1), queries=queries, names=name_ids)
    return BoundedMatches(over=False, estimate=estimate, queries=queries, ranks=ranks, names=name_ids)


def documents_text_match_unranked(*, queryset: QuerySet, names: NameMatches, bounded: BoundedMatches) -> QuerySet:
    """The matches, unranked (`search_rank` 0), each row's text tested as the row comes: read in an
    index's order (the primary key's, newest first), a page stops at its last row however many
    documents match."""
    unranked = Value(0.0, output_field=FloatField())
    # Too many to read, the name matches are tested row by row too: a set of them all would be
    # built first (seconds for a common word), where the walk stops at the page's last row.
    match = Q(AnyOf(F("pk"), bounded.names)) if bounded.names is not None else names.each_row
    if bounded.queries:
        match |= _vector_matches(bounded.queries, through="text_record__")
    return queryset.filter(match).annotate(search_rank=unranked)


def documents_name_match(*, term: str, search_fields: list[str], scope: SourceScope = EVERY_SOURCE) -> NameMatches:
    """The documents whose fields match every word of the term, as the admin's search_fields define
    (`^field` from its start, `=field` exactly, else anywhere), the way Django's admin does.

    The rarest word (by the planner's estimate) finds the candidates in the sources of `scope`:
    each field is asked on its own, so that each is served by its own index (migration 0007); an
    OR across the joined tables would scan them all. The other words are tested on those
    candidates: uniting every id of a common word ("Lease") read hundreds of thousands of rows at
    a million documents.
    """
    lookups = [_lookup(field) for field in search_fields]
    words = []
    for word in smart_split(term):
        if word.startswith(('"', "'")) and word[0] == word[-1]:
            word = unescape_string_literal(word)
        if word not in words:
            words.append(word)
    if not words:
        return NameMatches(rarest_by_field=[Document.objects.none()], others=[], each_row=Q(pk__in=[]), estimate=0)

    # Each word in any field, as one filter (built once per word: estimated, tested, walked).
    in_any_field = {word: reduce(operator.or_, [Q(**{lookup: word}) for lookup in lookups]) for word in words}
    # Planned as one query per word (an OR over the fields): cheap to plan, and only compared.
    estimates = {word: rows_estimated(Document.objects.filter(found)) or 0 for word, found in in_any_field.items()}
    rarest = min(words, key=lambda word: estimates[word])  # the first typed among equals
    others = [found for word, found in in_any_field.items() if word != rarest]
    rarest_by_field = [scope.filter(Document.objects.filter(**{lookup: rarest})).order_by() for lookup in lookups]
    each_row = reduce(operator.and_, in_any_field.values())
    return NameMatches(rarest_by_field=rarest_by_field, others=others, each_row=each_row, estimate=estimates[rarest])


def _lookup(field: str) -> str:
    if field.startswith("^"):
        return f"{field[1:]}__istartswith"
    if field.startswith("="):
        return f"{field[1:]}__iexact"
    return f"{field}__icontains"


def search_configs() -> list[str]:
    """The text search configurations documents are indexed with: SEARCH_CONFIG and sources' own."""
    configs = {settings.SEARCH_CONFIG}
    configs.update(SourceSync.objects.exclude(search_config="").values_list("search_config", flat=True))
    return sorted(configs)


def _queries_by_config(term: str) -> dict[str, SearchQuery]:
    """The term's query in each configuration in use: a row's vector is matched by the query made
    with the configuration its text was indexed with (stemming differs between languages).

    A query of stop words only (`a*`, `the`) is left out: it matches nothing, and the GIN index
    answers an empty query by reading every entry (seconds at a million documents)."""
    queries = {config: search_query_build(term, config=config) for config in search_configs()}
    queries = {config: query for config, query in queries.items() if query is not None}
    if not queries or connection.vendor != "postgresql":
        return queries
    # Asked of any one row (a table without texts has nothing to search anyway).
    counts = {
        f"lexemes_{n}": Func(query, function="numnode", output_field=IntegerField())
        for n, query in enumerate(queries.values())
    }
    row = next(iter(DocumentText.objects.order_by().annotate(**counts).values_list(*counts)[:1]), None)
    if row is None:
        return queries
    return {config: query for (config, query), lexemes in zip(queries.items(), row, strict=True) if lexemes}


def _vector_matches(queries: dict[str, SearchQuery], *, through: str = "") -> Q:
    if len(queries) == 1:  # the usual case: one configuration for every document, nothing to tell apart
        return Q(**{f"{through}search_vector": next(iter(queries.values()))})
    matches = [Q(**{f"{through}config": config, f"{through}search_vector": query}) for config, query in queries.items()]
    return reduce(operator.or_, matches)


def _vector_rank(queries: dict[str, SearchQuery], *, through: str = ""):
    vector = F(f"{through}search_vector")
    if len(queries) == 1:
        return SearchRank(vector, next(iter(queries.values())))
    whens = [When(**{f"{through}config": config}, then=SearchRank(vector, query)) for config, query in queries.items()]
    return Case(*whens, default=Value(0.0), output_field=FloatField())


def documents_text_headlines(
    *, term: str, document_ids: list[int], queries: dict[str, SearchQuery] | None = None
) -> dict[int, str]:
    """The matching passage of each of these documents (one query; only the page shown), HTML-safe.
    `queries`: the term's, where the search made them already."""
    if not document_ids or not term.strip():
        return {}
    texts = DocumentText.objects.filter(document_id__in=document_ids, status=DocumentText.Status.EXTRACTED)
    if connection.vendor != "postgresql":
        return {pk: _snippet(text, term) for pk, text in texts.values_list("document_id", "text")}
    queries = _queries_by_config(term) if queries is None else queries
    headlines = {}
    for config, query in queries.items():  # one query per configuration in use (usually one)
        rows = texts.filter(search_vector=query)
        if len(queries) > 1:
            rows = rows.filter(config=config)
        passage = SearchHeadline(_passage_window(term), query, config=config, **HEADLINE_OPTIONS)
        for pk, headline in rows.annotate(headline=passage).values_list("document_id", "headline"):
            headlines[pk] = _marked(headline)
    return headlines


def _passage_window(term: str):
    """The part of the text ts_headline is given: around the first place a typed word occurs, so that
    its cost does not grow with the document (it parses all it is given). Where no typed word occurs
    as typed (only a stemmed form matched), the first HEADLINE_TEXT_CHARS characters, as before.
    (search_passage, migration 0016, lowers each text once.)"""
    anchors = sorted({word.lower() for word in ANCHOR_WORD.findall(term.replace("*", " "))})
    if not anchors:
        return Substr("text", 1, HEADLINE_TEXT_CHARS)
    return Func(
        F("text"),
        Value(anchors, output_field=ArrayField(TextField())),
        Value(PASSAGE_BEFORE_CHARS),
        Value(PASSAGE_CHARS),
        Value(HEADLINE_TEXT_CHARS),
        function="search_passage",
        output_field=TextField(),
    )


def _marked(headline: str) -> str:
    return escape(headline).replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")


def _snippet(text: str, term: str) -> str:
    needle = term.replace("*", "").replace('"', "").strip()
    at = text.lower().find(needle.lower()) if needle else -1
    if at < 0:
        return ""
    start = max(0, at - SNIPPET_CHARS // 2)
    piece = text[start : at + len(needle) + SNIPPET_CHARS // 2]
    at -= start
    return _marked(
        ("…" if start else "")
        + piece[:at]
        + MARK_START
        + piece[at : at + len(needle)]
        + MARK_STOP
        + piece[at + len(needle) :]
    )


def document_text_get(*, document_id: int) -> DocumentText | None:
    return DocumentText.objects.filter(document_id=document_id).defer("search_vector").first()
