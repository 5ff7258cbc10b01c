"""The purchase domain: the feed and catalog in, weekly purchase counts out."""

GROUP = "purchases"
"""The Dagster asset group of every purchase asset (the schedule's job selects it)."""
