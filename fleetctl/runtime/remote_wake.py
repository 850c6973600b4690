"""Wake-ups from other hosts: on a shared PostgreSQL store, a thread LISTENs for the store's
NOTIFY and writes this host's wake FIFO, so a task added or a wake sent on any host starts
this host's next pass at once (the supervise loop itself still waits only on its FIFO)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fleetctl import wake
from fleetctl.runtime.context import Runtime


def start(rt: Runtime) -> Callable[[], None]:
    """Start listening when the fleet's store is shared; returns the function that stops it."""
    url = rt.spec.store
    if url is None:
        return lambda: None
    from fleetctl.store.pg import listen

    stop = threading.Event()
    fifo = rt.wake_fifo
    thread = threading.Thread(
        target=listen, args=(url, lambda: wake.notify(fifo), stop.is_set), name="store-listen", daemon=True
    )
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join(timeout=5.0)

    return stopper
