"""Command-line generators that make every dataset of the course ahead of time."""
