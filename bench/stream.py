"""One streaming transfer in a fresh process, printing JSON: MiB/s and peak memory growth.

`python -m bench.stream ours DOCUMENT_ID` syncs a document with the project's code;
`python -m bench.stream baseline URL SLUG` copies the same stream with plain requests and boto3's
`upload_fileobj` (its default transfer settings). Memory growth is the peak resident size after
the transfer minus the resident size just before it, with both clients already made.
"""

import json
import sys
import time

import django

django.setup()

import boto3  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402

from documents.advance.client import AdvanceClient  # noqa: E402
from documents.models import Document  # noqa: E402
from documents.storage import document_storage  # noqa: E402
from documents.sync import document_sync  # noqa: E402
from sources.models import Source  # noqa: E402

MiB = 1024 * 1024


def memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def measure(transfer) -> dict:
    reset_peak()
    before = memory_kib("VmRSS")
    started = time.monotonic()
    size = transfer()
    seconds = time.monotonic() - started
    return {"mib_s": size / MiB / seconds, "seconds": seconds, "growth_mib": (memory_kib("VmHWM") - before) / 1024}


def ours(document_id: int) -> dict:
    document = Document.objects.select_related("source").get(pk=document_id)
    document_storage().connection.meta.client  # noqa: B018 - the S3 client exists before measuring
    AdvanceClient(document.source).access_token()

    def transfer() -> int:
        document_sync(document_id=document_id)
        stored = Document.objects.get(pk=document_id)
        if stored.status != Document.Status.STORED:
            raise SystemExit(f"not stored: {stored.status} {stored.last_error}")
        return stored.size

    return measure(transfer)


def baseline(url: str, slug: str) -> dict:
    source = Source.objects.get(slug=slug)
    token = AdvanceClient(source).login()
    s3 = boto3.client("s3", endpoint_url=settings.DOCUMENT_STORAGE["OPTIONS"]["endpoint_url"])

    def transfer() -> int:
        with requests.get(url, headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=60) as response:
            response.raise_for_status()
            s3.upload_fileobj(response.raw, settings.AWS_STORAGE_BUCKET_NAME, "bench/baseline.bin")
        return s3.head_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key="bench/baseline.bin")["ContentLength"]

    return measure(transfer)


if __name__ == "__main__":
    mode = sys.argv[1]
    result = ours(int(sys.argv[2])) if mode == "ours" else baseline(sys.argv[2], sys.argv[3])
    print(json.dumps(result))
