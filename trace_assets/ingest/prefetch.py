"""Reading ahead: a source's next batches are fetched on a second thread while this one cleans
and writes, so the database and the CPU work at the same time. Memory stays bounded by `depth`."""

import queue
import threading
from collections.abc import Iterable, Iterator

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(items: Iterable, depth: int = 1) -> Iterator:
    """`items`, produced on a background thread at most `depth` ahead of the consumer. An error in
    the producer is raised in the consumer; a consumer that stops early stops the producer."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            offer(_Failure(error))
            return
        offer(_END)

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)
