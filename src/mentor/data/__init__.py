"""Data: read JSONL formats, validate, chat template + loss masks, packing."""
