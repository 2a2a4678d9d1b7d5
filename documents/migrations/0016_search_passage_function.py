"""search_passage(text, anchors, before, length, fallback): the part of a document's text the
search's ts_headline is given (documents/search/selectors.py).

The window around the first typed word was a LEAST of STRPOS(LOWER(text), word) per word, written
twice by its CASE: ten lowerings of each text on the page (86 ms for a page of a hundred texts
and five words, at a million documents). The function lowers each text once: 16 ms.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION search_passage(body text, anchors text[], before integer, length integer, fallback integer)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    lowered text := lower(body);
    first integer;
    found integer;
    anchor text;
BEGIN
    FOREACH anchor IN ARRAY anchors LOOP
        found := strpos(lowered, anchor);
        IF found > 0 AND (first IS NULL OR found < first) THEN
            first := found;
        END IF;
    END LOOP;
    IF first IS NULL THEN  -- no typed word occurs as typed (only a stemmed form matched)
        RETURN substr(body, 1, fallback);
    END IF;
    RETURN substr(body, greatest(first - before, 1), length);
END
$$
"""


def function_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def function_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS search_passage(text, text[], integer, integer, integer)")


class Migration(migrations.Migration):
    dependencies = [("documents", "0015_name_search_statistics")]

    operations = [migrations.RunPython(function_create, function_drop)]
