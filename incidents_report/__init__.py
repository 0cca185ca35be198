"""The quarterly security report: its data from the analyst views, then one rendering
module per output."""
