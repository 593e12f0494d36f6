"""Sizes a terminal plot accepts, apart from the plotting code so that options can name them
without loading it."""

MIN_WIDTH = 30  # columns: y labels, the frame and a canvas of 20 columns
MAX_WIDTH = 100  # a wider terminal gets a 100-column plot (--width can ask for more)
MIN_HEIGHT = 5  # canvas rows
MAX_HEIGHT = 60
DEFAULT_HEIGHT = 16  # canvas rows when the terminal's height is not known
