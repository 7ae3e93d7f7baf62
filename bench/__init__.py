"""`make bench`: each figure is a ratio against a raw baseline measured in the same run (medians)."""
