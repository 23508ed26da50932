"""What the pilot's ground station learns from the daemon, over the daemon's MAVLink link.

``GcsAlerter(settings, link)`` (alerts.py) is a Stage and an EventSink: per new confirmed track a STATUSTEXT
(``person 87% 42.61234 19.94512 +/-6 m #12``, severity by class) with CAMERA_TRACKING_GEO_STATUS and
CAMERA_TRACKING_IMAGE_STATUS; health as NAMED_VALUE_FLOAT/INT and STATUSTEXT on change; everything within a
messages/s and bytes/s budget (budget.py) with alerts first. messages.py and health.py are the pure formatting.
"""
