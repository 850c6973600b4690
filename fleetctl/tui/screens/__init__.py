"""Screens coordinate widgets and hand actions to the app's workers."""

from __future__ import annotations
