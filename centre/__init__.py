"""The coordination centre: every vehicle's detections in one database, fused, served and shared (``edge-centre``)."""
