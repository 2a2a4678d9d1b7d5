"""Run a simulated Advance with one demo work item: `python -m advance_sim --port 8001`."""

import argparse
import json
import signal
import time

from .documents import SimDocument
from .server import SimulatedAdvance


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m advance_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--print-payload", action="store_true", help="also print a NewWorkItemVersionComplete event")
    args = parser.parse_args(argv)

    # SIGTERM ends the process like Ctrl-C, so the server is stopped by the same `with` block.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with SimulatedAdvance(host=args.host, port=args.port) as advance:
        work_item = advance.add_work_item(
            name="WI001",
            documents=[
                SimDocument(name="Example Contract", kind="docx"),
                SimDocument(name="Example Contract Summary", kind="pdf"),
            ],
        )
        settings = {
            "base_url": advance.base_url,
            "api_base_url": advance.api_base_url,
            "auth_base_url": advance.auth_base_url,
            "client_name": advance.client_name,
            "principal_name": advance.principal_name,
            "principal_password": advance.principal_password,
            "work_item_id": work_item.id,
        }
        print(json.dumps(settings), flush=True)
        if args.print_payload:
            print(json.dumps(advance.event_payload(work_item)), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
