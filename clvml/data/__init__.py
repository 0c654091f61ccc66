"""Data layer: contracts, validation, loaders and bundled data sets."""
