"""resume: restart an agent in its latest (or a named) conversation."""

from __future__ import annotations

import click

from fleetctl.cli.base import EXIT_FAILED, EXIT_OK, FleetContext, command, complete_agents, pass_fleet
from fleetctl.cli.lifecycle import Report, _report_options
from fleetctl.errors import UsageError


@command(name="resume")
@click.argument("name", shell_complete=complete_agents)
@click.option("--session", "session", metavar="ID", help="Resume this session instead of the latest one.")
@_report_options
@pass_fleet
def resume(ctx: FleetContext, name: str, session: str | None, verbose: bool, quiet: bool, as_json: bool) -> int:
    """Restart an agent in its latest conversation on disk, or in session ID.

    Only for agents whose kind has sessions (claude, codex, gemini, aider).
    """
    from fleetctl.sessions import locate
    from fleetctl.sessions.start import Next, ask_next, kind_of, transcript_dir

    out = Report(verbose, quiet, as_json)
    fleet = ctx.fleet(on_event=out.on_event)
    specs = [s for s in fleet.resolve([name]) if s.name == name]
    if not specs:
        raise UsageError(f"resume takes one agent, not the replicas of {name}; name one of them")
    spec = specs[0]
    kind = kind_of(fleet, spec)
    if kind is None:
        raise UsageError(
            f"{name} is of kind {spec.kind}, which has no sessions; expected an agent of a kind with sessions"
        )
    if session is not None:
        found = [t.id for t in locate.transcripts(kind.session, transcript_dir(fleet, kind, spec))]
        if session not in found:
            known = ", ".join(found[:5]) or "none yet"
            raise UsageError(f"{name} has no session {session!r} on disk; expected one of: {known}")
    ask_next(fleet, name, Next.PINNED if session else Next.LATEST, session)
    failures = fleet.restart([name], out.progress)
    out.failed(failures, {name})
    return EXIT_FAILED if failures else EXIT_OK
