"""Decode, compute features and quality flags, build the similarity indexes."""
