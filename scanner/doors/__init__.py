"""Doors: the ways files leave an office, each turning its traffic into engine calls and acting on verdicts."""
