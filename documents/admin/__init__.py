"""Admin for synced documents, work items and versions, and the sources' sync settings.

Rows are written by the sync only: every page parses its input, calls one of documents' services
or selectors, and shapes the answer. What this app adds to the source's admin (test connection,
reconcile now, the post-processing warning) is registered in DocumentsConfig.ready().
"""

from . import documents, sources, work_items  # noqa: F401 - each module registers its admins
