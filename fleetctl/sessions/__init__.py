"""Conversations of agent CLIs: where a kind keeps its transcripts, which session an agent is in,
resuming it on the next start, and the tokens and cost its runs used.

locate.py reads transcripts and each agent's own config dir from disk; resume.py decides (pure)
which session a start resumes; start.py applies that to a start; usage.py reads token counts.
"""
