"""Diff reports: the model of a plan for people and machines, and its renderers."""
