"""Post-assembly processing: once a version's documents are stored, set its status in Advance to Complete."""

import logging
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import PermanentError, RetryableError
from core.retry import DUE_SLACK, retry_decide
from core.sweep import stalled_requeue
from sources.models import SourceSync
from sources.status_call import status_path_refusal

from . import metrics
from .advance.client import AdvanceClient
from .models import Document, WorkItemVersion
from .source_sync import source_sync_get

logger = logging.getLogger(__name__)

# A version waiting for its documents, or failed for them (the status call was never tried): a
# document of it that settles (stored, or failed again) decides its post-processing anew.
POST_PROCESSING_WAITING = Q(post_processing_status=WorkItemVersion.PostProcessing.PENDING) | Q(
    post_processing_status=WorkItemVersion.PostProcessing.FAILED, post_processing_attempts=0
)


def version_post_processing_check(*, version_id: int) -> bool:
    """Queue the post-assembly processing status call once every document of the version is stored.

    Once none is pending or syncing but some failed or died, the version fails with the reason
    (Advance keeps showing it in progress); a document retried and stored later reopens it.
    A conditional UPDATE lets exactly one caller through, however many documents finish at once.
    Returns whether this call queued it.
    """
    documents = Document.objects.filter(version_id=version_id)
    if documents.filter(status__in=[Document.Status.PENDING, Document.Status.SYNCING]).exists():
        return False
    failed = list(
        documents.filter(status__in=[Document.Status.FAILED, Document.Status.DEAD])
        .order_by("pk")
        .values_list("advance_id", "last_error")
    )
    if failed:
        _post_processing_documents_failed(version_id, failed)
        return False
    with transaction.atomic():
        taken = WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=version_id).update(
            post_processing_status=WorkItemVersion.PostProcessing.COMPLETING,
            post_processing_error="",
            post_processing_due_at=timezone.now(),
        )
        if taken:
            _post_processing_send(version_id)
    return bool(taken)


def _post_processing_documents_failed(version_id: int, failed: list[tuple[str, str]]) -> None:
    advance_id, error = failed[0]
    reason = (
        f"{len(failed)} document(s) not stored, so the status call was not sent and the work item stays "
        f"'in progress' in Advance; retry the documents to complete it. First: {advance_id}: {error}"
    )[:2000]
    waiting = WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=version_id)
    # Counted and logged once, when the version stops waiting; a later failure only updates the reason.
    if waiting.filter(post_processing_status=WorkItemVersion.PostProcessing.PENDING).update(
        post_processing_status=WorkItemVersion.PostProcessing.FAILED, post_processing_error=reason
    ):
        metrics.POST_PROCESSING_FAILED.inc()
        logger.warning("post-processing failed for its documents: version=%s failed=%s", version_id, len(failed))
    else:
        waiting.update(post_processing_error=reason)


def version_documents_settle(*, version_id: int) -> None:
    """A document of the version was stored or failed for good: decide its post-processing if it waits."""
    if WorkItemVersion.objects.filter(POST_PROCESSING_WAITING, pk=version_id).exists():
        version_post_processing_check(version_id=version_id)


def _post_processing_send(version_id: int) -> None:
    from .tasks import version_post_processing_complete  # the task module imports this one

    def send() -> None:
        version_post_processing_complete.delay(version_id)

    transaction.on_commit(send, robust=True)  # a lost message is found again by the sweep (due_at)


def versions_post_processing_requeue_stalled() -> int:
    """Queue again the status calls whose due time passed long ago (their message was lost); return how many."""

    def stalled(now, cutoff):
        return WorkItemVersion.objects.filter(
            post_processing_status=WorkItemVersion.PostProcessing.COMPLETING, post_processing_due_at__lt=cutoff
        )

    def requeue(ids: list[int]) -> int:
        WorkItemVersion.objects.filter(pk__in=ids).update(post_processing_due_at=timezone.now())
        for version_id in ids:
            _post_processing_send(version_id)
        return len(ids)

    return stalled_requeue(
        what="post-processing status calls",
        stalled=stalled,
        requeue=requeue,
        task_name="documents.tasks.version_post_processing_complete",
    )


def version_post_processing_complete(*, version_id: int, retries: int = 0, final_attempt: bool = False) -> None:
    """Tell Advance the version's post-assembly processing is Complete. Safe to run twice.

    Transient failures raise RetryScheduled with the backoff for this many retries (written as
    the version's due time); a refusal, a missing setting or the last attempt's failure leaves
    the version failed with the reason.
    """
    if not _post_processing_claim(version_id):
        return  # completed, failed, gone, or another message's call runs now (or waits out its backoff)
    version = WorkItemVersion.objects.select_related("work_item__source").get(pk=version_id)
    source = version.work_item.source
    sync = source_sync_get(source=source)
    if not sync.post_processing_status_path:
        _post_processing_end(
            version_id,
            WorkItemVersion.PostProcessing.FAILED,
            "no post-assembly processing status call is configured for the source: the work item stays "
            "'in progress' in Advance",
        )
        return
    path, body = _status_call_make(version, sync)
    # Checked again here, on the very path sent: a setting saved before the rule, or by an update.
    if refusal := status_path_refusal(path):
        _post_processing_end(version_id, WorkItemVersion.PostProcessing.FAILED, refusal)
        return
    try:
        status = AdvanceClient(source).send_json(sync.post_processing_status_method, path, body)
    except PermanentError as error:
        _post_processing_end(version_id, WorkItemVersion.PostProcessing.FAILED, str(error))
        return
    except RetryableError as error:
        _post_processing_retry_later(version_id, error, retries=retries, final_attempt=final_attempt)
        return
    _post_processing_end(version_id, WorkItemVersion.PostProcessing.COMPLETED, "")
    logger.info("post-processing status completed: version=%s status=%s", version_id, status)


def _status_call_make(version: WorkItemVersion, sync: SourceSync) -> tuple[str, bytes | None]:
    """The status call's path and body, with the version's ids in their placeholders."""
    names = {"workItemId": quote(version.work_item.advance_id), "versionId": quote(version.advance_id)}
    path = sync.post_processing_status_path
    body = sync.post_processing_status_body
    for name, value in names.items():
        path = path.replace("{" + name + "}", value)
        body = body.replace("{" + name + "}", value)
    return path, body.encode() if body.strip() else None


def _post_processing_retry_later(version_id: int, error: RetryableError, *, retries: int, final_attempt: bool) -> None:
    """Write down when the status call is tried again and raise RetryScheduled; after the final attempt, fail it."""
    retry = retry_decide(error=error, retries=retries, final_attempt=final_attempt)
    if retry.countdown is None:
        _post_processing_end(version_id, WorkItemVersion.PostProcessing.FAILED, f"gave up: {retry.error}")
        return
    WorkItemVersion.objects.filter(pk=version_id).update(
        post_processing_error=f"will be retried: {retry.error}", post_processing_due_at=retry.due_at
    )
    logger.warning(
        "post-processing status will be retried: version=%s in=%.1fs error=%s", version_id, retry.countdown, retry.error
    )
    raise retry.scheduled() from error


def _post_processing_claim(version_id: int) -> bool:
    """Take the version's status call for this message; False when it is not this message's to make.

    A duplicate message (the sweep's, or a redelivery) may run at the same moment: the due time,
    pushed past the longest the call can take, lets exactly one through, and keeps the sweep off
    it while it runs. A retry's message comes when its due time is reached.
    """
    now = timezone.now()
    # Up to two log-ins and two requests (one re-log-in on 401), each bounded by both timeouts.
    call_time = 4 * (settings.ADVANCE_CONNECT_TIMEOUT + settings.ADVANCE_READ_TIMEOUT)
    return bool(
        WorkItemVersion.objects.filter(
            pk=version_id,
            post_processing_status=WorkItemVersion.PostProcessing.COMPLETING,
            post_processing_due_at__lte=now + DUE_SLACK,
        ).update(
            post_processing_due_at=now + timedelta(seconds=2 * call_time),
            post_processing_attempts=F("post_processing_attempts") + 1,
        )
    )


def _post_processing_end(version_id: int, status: str, error: str) -> None:
    completed = status == WorkItemVersion.PostProcessing.COMPLETED
    WorkItemVersion.objects.filter(pk=version_id).update(
        post_processing_status=status,
        post_processing_error=error,
        post_processing_completed_at=timezone.now() if completed else None,
    )
    if completed:
        metrics.POST_PROCESSING_COMPLETED.inc()
    else:
        metrics.POST_PROCESSING_FAILED.inc()
        logger.warning("post-processing status failed: version=%s reason=%s", version_id, error)


def versions_post_processing_retry(*, versions) -> int:
    """Try the post-assembly processing status call again for these failed versions; return how many."""
    failed = versions.filter(post_processing_status=WorkItemVersion.PostProcessing.FAILED)
    ids = list(failed.values_list("pk", flat=True))
    WorkItemVersion.objects.filter(pk__in=ids).update(post_processing_status=WorkItemVersion.PostProcessing.PENDING)
    return sum(version_post_processing_check(version_id=pk) for pk in ids)
