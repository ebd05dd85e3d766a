"""Published numbers of the papers, one CSV per paper, each row naming its source."""
