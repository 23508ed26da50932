"""The field console: a web page on the vehicle's own network (live view, map, alerts, health, config, /metrics)."""
