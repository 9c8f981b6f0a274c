"""Qwen2.5-VL pieces written from the published architecture (transformers is not installable here):
the vision tower, the tail that resumes it after block L, and the tiny stand-in model folder."""
