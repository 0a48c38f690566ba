"""Support tickets: problems staff hand to a person."""
