"""Trackers, one per figure; each result serialises to plain JSON.

A figure that cannot be measured on this device is absent, with the reason in the
result's `absent` map, never zero.
"""
