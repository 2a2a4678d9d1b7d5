"""`make demo`: a webhook turning into stored documents, with nothing but this repository.

Starts a simulated Advance, registers it as the source "demo" with a fresh token, fires
webhooks at the app on http://127.0.0.1:8000 (the one `make run` started, or one this script
starts), answers an interview call, waits until the documents are stored and says where to
see them.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

APP = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"


def app_is_up() -> bool:
    try:
        return requests.get(f"{APP}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def app_start() -> subprocess.Popen:
    print(f"No app answers on {APP}: starting one (as `make run` does) ...")
    process = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=BASE_DIR, start_new_session=True)
    deadline = time.monotonic() + 120
    while not app_is_up():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("The app did not start; see the output above.")
        time.sleep(0.5)
    return process


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    started = None if app_is_up() else app_start()
    try:
        return demo(started)
    except KeyboardInterrupt:
        return 130
    finally:
        if started is not None and started.poll() is None:
            os.killpg(started.pid, signal.SIGINT)
            started.wait(timeout=30)


def demo(started: subprocess.Popen | None) -> int:

    import django

    from config.embedded import embedded_prepare

    embedded_prepare()  # before settings are read, as manage.py does
    django.setup()
    from advance_sim import SimDocument, SimulatedAdvance, send_interview_call
    from documents.models import Document
    from interviews.services import answer_stored_set
    from sources.services import source_save
    from webhooks.services import token_issue

    with SimulatedAdvance() as advance:
        source, _ = source_save(
            slug="demo",
            name="Demo tenancy (simulated Advance)",
            api_base_url=advance.api_base_url,
            auth_base_url=advance.auth_base_url,
            client_name=advance.client_name,
            principal_name=advance.principal_name,
            principal_password=advance.principal_password,
            update=True,
        )
        _, key = token_issue(source=source, name=f"make demo {time.strftime('%Y-%m-%d %H:%M:%S')}")
        print(f"Simulated Advance at {advance.base_url}; source 'demo' registered with a new token.\n")

        events = [
            (
                advance.add_work_item(
                    name="Lease agreement - Smith",
                    documents=[
                        SimDocument(name="Lease Agreement", kind="docx"),
                        SimDocument(name="Lease Summary", kind="pdf"),
                    ],
                ),
                True,
            ),
            (
                advance.add_work_item(
                    name="Employment contract - Jones", documents=[SimDocument(name="Employment Contract", kind="docx")]
                ),
                True,
            ),
            # This event lists no documents: they are looked up through Advance's API.
            (
                advance.add_work_item(
                    name="Will - Brown", documents=[SimDocument(name="Last Will", kind="pdf", size=3 * 1024 * 1024)]
                ),
                False,
            ),
        ]
        url = f"{APP}/webhooks/advance/"
        payloads = []
        for work_item, with_documents in events:
            payload = advance.event_payload(work_item, include_documents=with_documents)
            payloads.append(payload)
            response = advance.send_webhook(url, payload, token=key)
            print(f"POST {url}  {work_item.name!r:32} -> {response.status_code} {response.text}")
        again = advance.send_webhook(url, payloads[0], token=key)
        print(f"POST {url}  (the first event again)               -> {again.status_code} {again.text}")
        bad = advance.send_webhook(url, payloads[0], token="whk_not-a-real-token")  # noqa: S106 - a wrong key on purpose
        print(f"POST {url}  (a wrong token)                       -> {bad.status_code} {bad.text}\n")

        version_ids = [payload["data"]["workItemVersionId"] for payload in payloads]
        documents = Document.objects.filter(source=source, version__advance_id__in=version_ids)
        expected = sum(len(work_item.documents) for work_item, _ in events)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = documents.filter(status__in=[Document.Status.STORED, Document.Status.FAILED, Document.Status.DEAD])
            if done.count() == expected:
                break
            time.sleep(0.3)

        # An interview call, answered at once with the stored answer (by GET, as older Advance versions call).
        answer_stored_set(
            source=source,
            event_type="CustomInterviewEvent",
            event_name="GetClient",
            answer_json='{"Client Name": {"text": "Ada Lovelace"}, "Matter number": {"num": 1842}}',
        )
        answered = send_interview_call(
            url,
            token=key,
            event_type="CustomInterviewEvent",
            event_name="GetClient",
            work_item_id=events[0][0].id,
            method="GET",
        )
        print(
            f"GET  {url}?eventType=CustomInterviewEvent&eventName=GetClient -> {answered.status_code} {answered.text}\n"
        )

        for document in documents.order_by("pk"):
            print(f"  {document.status:7} {document.size or 0:>9} bytes  {document.storage_key or document.last_error}")
        stored = documents.filter(status=Document.Status.STORED).count()
        print(f"\n{stored} of {expected} documents stored.")
        print(f"See them in the admin: {APP}/admin/documents/document/?source__id__exact={source.pk}")
        print(f"The delivery log:      {APP}/admin/webhooks/delivery/")

    if started is not None:
        print("\nThe app keeps running for you to look around; Ctrl-C stops it.")
        started.wait()
    return 0 if stored == expected else 1


if __name__ == "__main__":
    sys.exit(main())
