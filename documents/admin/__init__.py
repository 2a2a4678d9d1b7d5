"""Admin for synced documents, work items and versions.

Rows are written by the sync only: every page parses its input, calls one of documents' services
or selectors, and shapes the answer. A source's page and its sync settings are sources/admin.py's.
"""

from . import documents, work_items  # noqa: F401 - each module registers its admins
