"""`manage.py work_item_hold SLUG WORK_ITEM_ID --reason TEXT` / `--release`: a legal hold on every
stored object of the work item's versions, put on or lifted, and recorded."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from documents.holds import HoldRefused, work_item_hold, work_item_hold_release
from documents.models import WorkItem
from documents.storage import StorageUnavailable


class Command(BaseCommand):
    help = (
        "Put a legal hold on every stored document of the work item (all its versions, and those stored later), "
        "or lift it with --release. Recorded on the work item with the reason. Refused, changing nothing, "
        "without a reason, where storage cannot lock, or (--release) when it is not held."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", metavar="SLUG")
        parser.add_argument("work_item_id", metavar="WORK_ITEM_ID", help="Advance's work item id.")
        parser.add_argument("--reason", default="", help="Why (required to put a hold on; optional to lift it).")
        parser.add_argument("--release", action="store_true", help="Lift the legal hold.")

    def handle(self, *args, slug: str, work_item_id: str, reason: str, release: bool, **options) -> None:
        work_item = WorkItem.objects.filter(source__slug=slug, advance_id=work_item_id).first()
        if work_item is None:
            raise CommandError(f"No work item {work_item_id!r} of a source {slug!r}.")
        via = f"manage.py work_item_hold (as {getpass.getuser()})"
        try:
            if release:
                outcome = work_item_hold_release(work_item=work_item, actor=None, reason=reason, via=via)
            else:
                outcome = work_item_hold(work_item=work_item, actor=None, reason=reason, via=via)
        except (HoldRefused, StorageUnavailable) as error:
            raise CommandError(f"Legal hold {'not lifted' if release else 'not put on'}: {error}") from None
        objects = f"{outcome.done} stored object{'s' if outcome.done != 1 else ''}"
        done = f"lifted from {objects}" if release else f"put on {objects}"
        self.stdout.write(f"Legal hold {done} of work item {work_item_id} ({slug}).")
        for failure in outcome.failed:
            self.stderr.write(f"  refused by storage: {failure}")
        if outcome.failed:
            still = "the work item stays held; run it again" if release else "run it again to retry those"
            raise CommandError(f"Storage refused {len(outcome.failed)} object(s): {still}.")
