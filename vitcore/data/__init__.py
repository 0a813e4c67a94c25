"""Datasets: folder layout, content-keyed cache, hygiene report, COCO builder, synthetic default."""
