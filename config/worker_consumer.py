"""The worker's consumer: back on the broker within seconds of its return, not half a minute."""

from functools import partial

from celery.worker.consumer import Consumer

# Celery's consumer waits 2, 4, 6 ... and then 30 s between attempts to reach a lost broker, so
# after a long outage a worker could stay idle for up to 30 s with the broker back, while events
# accepted meanwhile must be stored within 30 s of its return (the relay publishes them within a
# second). One attempt a second or two costs a refused TCP connection each.
RECONNECT_INTERVALS = {"interval_start": 0, "interval_step": 1, "interval_max": 2}


class PromptReconnectConsumer(Consumer):
    def ensure_connected(self, conn):
        # Celery calls conn.ensure_connection(errback, max_retries, callback=...) with kombu's
        # default intervals and offers no setting for them: give this connection ours.
        conn.ensure_connection = partial(conn.ensure_connection, **RECONNECT_INTERVALS)
        return super().ensure_connected(conn)
