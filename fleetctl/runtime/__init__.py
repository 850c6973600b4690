"""The runtime behind Fleet, one responsibility per module.

context (the shared state of one fleet: spec, gateways, store, clock, paths), observe
(what tmux and the processes show, and which runs ended), logs (run logs: tails,
rotation, pruning), events (the event log and on_alert), terminate (TERM -> KILL, sweeps,
`down` and `kill`), launcher (the wrapper script and windows), actions (applying a plan),
passes (one observe -> plan -> apply pass), status (rows for `status`), supervisor (the
long-running loop and its quiet look). fleetctl.fleet.Fleet is the facade the commands use.
"""

from __future__ import annotations
