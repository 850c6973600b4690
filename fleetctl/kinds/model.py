"""Records and states of agent kinds. No I/O: loading lives in load.py, reading screens in classify.py."""

from __future__ import annotations

import enum
import re

from fleetctl.record import record


class Activity(enum.Enum):
    """What an agent is doing, beside its process state. Values are what status and events show."""

    WORKING = "working"
    WAITING = "waiting"  # idle at its prompt
    ASKING = "asking"  # a permission, trust or yes/no question waits for an answer
    LIMITED = "limited"  # a rate or usage limit; reset_at says until when
    RETRYING = "retrying"  # the client's own API-error retry loop
    AUTH = "auth"
    CONTEXT_FULL = "context-full"
    UNKNOWN = "unknown"  # a known kind whose screen matched nothing
    NONE = "-"  # a generic agent: no knowledge of its screen


# Activities a screen can show; UNKNOWN and NONE are conclusions, never patterns.
PATTERN_ACTIVITIES = (
    Activity.WORKING,
    Activity.WAITING,
    Activity.ASKING,
    Activity.LIMITED,
    Activity.RETRYING,
    Activity.AUTH,
    Activity.CONTEXT_FULL,
)

# When two activities match on the same screen line, the first here wins: a line that says both
# "esc to interrupt" and "reconnecting 3/5" is a retry, not work.
PRECEDENCE = (
    Activity.AUTH,
    Activity.LIMITED,
    Activity.CONTEXT_FULL,
    Activity.ASKING,
    Activity.RETRYING,
    Activity.WORKING,
    Activity.WAITING,
)


class Outcome(enum.Enum):
    """How a headless run ended, read from its exit code and its last lines."""

    CLEAN = "clean"
    RATE_LIMITED = "rate-limited"
    AUTH = "auth"
    CONTEXT_FULL = "context-full"
    CRASHED = "crashed"


# Failure pattern groups (the [failures] table) and the outcome each one means.
FAILURE_GROUPS = {
    "rate_limit": Outcome.RATE_LIMITED,
    "usage_limit": Outcome.RATE_LIMITED,
    "auth": Outcome.AUTH,
    "context_full": Outcome.CONTEXT_FULL,
}


class Evidence(enum.Enum):
    """Which evidence decided an observation, strongest first."""

    TREE = "tree"
    TITLE = "title"
    SCREEN = "screen"
    NOTHING = "nothing"


@record
class ActivityPatterns:
    """How one activity shows: regexes over the screen's last `lines` non-blank lines and over the pane title.

    A pattern may name a group `detail`: its text becomes the observation's detail (the question, the
    retry line) instead of the whole line.
    """

    activity: Activity
    screen: tuple[re.Pattern[str], ...] = ()
    title: tuple[re.Pattern[str], ...] = ()
    lines: int | None = None  # None: the kind's whole tail


@record
class FailurePatterns:
    """Regexes over a headless run's last lines, by group name (rate_limit, usage_limit, auth, context_full)."""

    group: str
    patterns: tuple[re.Pattern[str], ...] = ()

    @property
    def outcome(self) -> Outcome:
        return FAILURE_GROUPS[self.group]


@record
class Keys:
    """tmux key names (send-keys) for answering the client, and the text typed after a limit lifts."""

    submit: tuple[str, ...] = ("Enter",)
    approve: tuple[str, ...] = ()
    decline: tuple[str, ...] = ()
    interrupt: tuple[str, ...] = ("C-c",)
    continue_text: str = ""


@record
class Session:
    """Where a client keeps its conversations and how to resume one. Carried for session resumption."""

    resume_args: tuple[str, ...] = ()  # e.g. ("--resume", "{session}")
    continue_args: tuple[str, ...] = ()  # resume the latest conversation without an id
    transcript_dir: str = ""  # may use {config_dir}, {cwd}, {cwd_slug} (the cwd with / replaced by -)
    transcript_glob: str = ""
    config_dir: str = ""  # the client's config directory when config_dir_env is not set, e.g. "~/.claude"
    config_dir_env: str = ""  # the env variable that moves it (CLAUDE_CONFIG_DIR, CODEX_HOME)
    id_pattern: str = ""  # regex over a transcript's file name; group `id` (or the whole stem) is the session id
    private: tuple[str, ...] = ()  # entries of the config dir each agent keeps to itself (its transcripts)
    shared_files: tuple[str, ...] = ()  # files outside the config dir it reads from there when moved (~/.claude.json)
    own_env: tuple[str, ...] = ()  # NAME=VALUE set beside config_dir_env when an agent has its own dir
    usage: str = ""  # where token counts are read: "claude-transcript", "codex-transcript", "aider-output" or "command"
    usage_command: str = ""  # with usage = "command": prints one JSON object per answer (docs/sessions.md)
    context_limit: int = 0  # tokens of context; a message whose input reaches it means the context is full
    handoff: str = ""  # typed to a full agent: write the state of the work to {file}
    prompt_args: tuple[str, ...] = ()  # arguments that give a fresh session its first prompt ({prompt})


DEFAULT_CHECK_TIMEOUT = 60.0


@record
class CheckCommand:
    """The kind's cheapest proof that the client works with the agent's key: a one-shot prompt.

    `args` are appended to the agent's own command (empty: no check); `env` is added to the agent's
    environment (e.g. fewer retries, so a bad key answers within the timeout).
    """

    args: tuple[str, ...] = ()
    timeout: float = DEFAULT_CHECK_TIMEOUT
    env: tuple[tuple[str, str], ...] = ()


@record
class Price:
    """US dollars per million tokens for one model."""

    model: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


@record
class Kind:
    """Everything fleetctl knows about one agent CLI: data from a kind file, regexes compiled once."""

    name: str
    description: str = ""
    origin: str = "built-in"  # "built-in", "fleet.toml" or "built-in + fleet.toml"
    tail: int = 40  # screen lines (non-blank, from the bottom) looked at
    activities: tuple[ActivityPatterns, ...] = ()
    failures: tuple[FailurePatterns, ...] = ()
    reset_patterns: tuple[re.Pattern[str], ...] = ()
    # what changes on a working screen without being progress (a spinner, an elapsed-time counter):
    # masked, beside fleetctl.kinds.progress's own masks, before two screens are compared
    progress_ignore: tuple[re.Pattern[str], ...] = ()
    keys: Keys = Keys()
    session: Session = Session()
    prices: tuple[Price, ...] = ()
    check: CheckCommand = CheckCommand()

    @property
    def generic(self) -> bool:
        """No screen knowledge: its activity is always `-`."""
        return not any(a.screen or a.title for a in self.activities)

    def patterns(self, activity: Activity) -> ActivityPatterns | None:
        for entry in self.activities:
            if entry.activity is activity:
                return entry
        return None

    def price(self, model: str) -> Price | None:
        for entry in self.prices:
            if entry.model == model:
                return entry
        return None


@record
class Observation:
    """What a pane shows its agent doing; detail is the question, limit or retry line when there is one."""

    activity: Activity
    detail: str = ""
    reset_at: float | None = None  # epoch seconds: when a limit lifts or a retry comes
    evidence: Evidence = Evidence.NOTHING


@record
class Verdict:
    """How a headless run ended; reset_at for a limit whose reset time the output gives."""

    outcome: Outcome
    detail: str = ""
    reset_at: float | None = None


@record
class KindRow:
    """One line of `fleetctl kinds`."""

    name: str
    origin: str
    activities: str
    keys: str
    resume: str
    description: str
