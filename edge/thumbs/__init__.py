"""Thumbnails on request: crops of tracks of interest kept encrypted on the vehicle, sent only when someone asks.

``settings`` ([thumbnails]), ``store`` (the encrypted, bounded crop store), ``collector`` (the pipeline's sink that
fills it), ``fit`` (encode to a byte limit), ``wire`` (requests, answers, chunks, audit records), ``service`` (the
stage that answers requests from MQTT and the ground station).
"""
