"""Widgets render what they are given and post messages up; they never do I/O."""

from __future__ import annotations
