"""Config section of the tracker. (Owned by the vision work.)"""

from __future__ import annotations

from pydantic import Field

from edge.settings_base import Section


class TrackerSettings(Section):
    """ByteTrack-style multi-object tracker."""

    high_threshold: float = Field(
        0.5, title="High confidence", description="Detections at or above this are matched first.", ge=0.0, le=1.0
    )
    low_threshold: float = Field(
        0.1, title="Low confidence", description="Detections below this are ignored.", ge=0.0, le=1.0
    )
    new_track_threshold: float = Field(
        0.0,
        title="New-track confidence",
        description="Unmatched detections at or above this start tracks; 0 (default): every detection the detector "
        "reports (at or above its conf_threshold / class_thresholds) may, so the detector's thresholds alone decide "
        "what is reported. Above the detector's threshold, objects scoring between the two are never reported.",
        ge=0.0,
        le=1.0,
    )
    match_iou: float = Field(
        0.2,
        title="Match IoU",
        description="Minimum IoU with the predicted box for a high-confidence match.",
        ge=0.0,
        le=1.0,
    )
    low_match_iou: float = Field(
        0.5,
        title="Low-confidence match IoU",
        description="Minimum IoU for the second (low-confidence) stage.",
        ge=0.0,
        le=1.0,
    )
    match_distance: float = Field(
        4.0,
        title="Match distance",
        description="Tracks and detections of one class left over by IoU are matched when the detection's centre is "
        "at most this many sigmas from the track's predicted one (its uncertainty grows with the time since its "
        "last frame; small or fast boxes at a low frame rate overlap nothing); 0 = off.",
        ge=0.0,
    )
    velocity_noise: float = Field(
        0.5,
        title="Velocity noise",
        description="How fast a track's image velocity may change unforeseen, box heights per second per "
        "sqrt(second) (the Kalman filter's process noise): 0.5 where the camera turns with a drone or gimbal; a "
        "camera on a still mast, whose image moves only with the objects, holds two people walking 20 px "
        "apart better at 0.25.",
        gt=0.0,
    )
    ego_motion: bool = Field(
        True,
        title="Ego-motion",
        description="Shift every prediction by the image motion most tracks agree on (the camera panned or the "
        "platform turned) before matching; at least two tracks must agree (confirmed ones, where there are two).",
    )
    duplicate_iou: float = Field(
        0.3,
        title="Duplicate IoU",
        description="An unmatched detection overlapping a track matched in the same frame by this IoU (or centred "
        "within half the track box's larger side of its centre) starts no track, and an unmatched tentative track "
        "so placed is dropped: one object, two boxes.",
        ge=0.0,
        le=1.0,
    )
    min_hits: int = Field(3, title="Confirmation hits", description="Frames before a track is reported.", ge=1)
    lost_after_s: float = Field(
        1.0, title="Lost after", description="Seconds without a match before a track is reported LOST.", gt=0.0
    )
    lost_after_frames: int = Field(
        2,
        title="Lost after frames",
        description="A track is LOST only once it also missed this many frames in a row (at 1 fps, one missed frame "
        "is no loss).",
        ge=1,
    )
    tentative_max_age_s: float = Field(
        0.3, title="Tentative timeout", description="An unconfirmed track is dropped silently after this (s).", gt=0.0
    )
    tentative_max_misses: int = Field(
        2,
        title="Tentative misses",
        description="An unconfirmed track is dropped only once it also missed this many frames in a row (it may be "
        "confirmed by min_hits of a few more frames).",
        ge=1,
    )
    update_move: float = Field(
        0.25,
        title="Update on move",
        description="Report UPDATE when the box centre moved by this fraction of its size since the last report.",
        gt=0.0,
    )
    update_interval_s: float = Field(
        5.0,
        title="Update interval",
        description="Report UPDATE at least this often (s) while a track lives; 0 = never.",
        ge=0.0,
    )


class AssociationSettings(Section):
    """Cross-camera association: tracks of two cameras of this platform that see one object share an object id."""

    enabled: bool = Field(
        True, title="Associate cameras", description="With several cameras, give one object seen by two one id."
    )
    window_s: float = Field(
        6.0,
        title="Time window",
        description="A joined track's partners count as fresh (rule: leave after split_after misses) while their fixes "
        "are at most this far apart (s); above tracker.update_interval_s, since a still track reports that seldom.",
        gt=0.0,
        le=60.0,
    )
    join_within_s: float = Field(
        2.0,
        title="Join window",
        description="A track joins another camera's only when their newest fixes are at most this far apart (s); "
        "once joined, window_s holds.",
        gt=0.0,
        le=60.0,
    )
    gate_sigma: float = Field(
        3.03,
        title="Gate",
        description="Largest ground distance in combined sigmas (sqrt(s1^2 + s2^2 + (v_max dt)^2)) for a join; "
        "3.03 holds 99 % of one object's pairs of fixes with independent errors (chi-square, 2 dof).",
        gt=0.0,
    )
    direction_sigma_deg: float = Field(
        0.07,
        title="Direction sigma",
        description="1-sigma azimuth (deg) of each of two cameras' lines of sight to one object, "
        "once their mounts' relative error is known (learn_boresight): the boxes' pixels and what is left of the "
        "calibration (the platform's pose error is the same for both).",
        gt=0.0,
    )
    depression_sigma_deg: float = Field(
        0.07,
        title="Depression sigma",
        description="1-sigma depression (deg) of each line of sight, as direction_sigma_deg.",
        gt=0.0,
    )
    learn_boresight: bool = Field(
        True,
        title="Learn the mounts' offset",
        description="Learn two cameras' relative pointing error from the objects both see (of the last 256 sightings "
        "compared through the poses of one time, the median of those of the pairs of tracks that most pairs agree "
        "with, once 3 pairs agree; with its doubt) and take it off; health shows it (association.boresight).",
    )
    boresight_sigma_deg: float = Field(
        0.3,
        title="Mount offset sigma",
        description="1-sigma relative pointing error (deg) of two cameras while it is not learnt yet (or "
        "learn_boresight is off): how well their mounts are calibrated to each other.",
        ge=0.0,
    )
    split_after: int = Field(
        3,
        title="Split after",
        description="Frames in a row a joined track's partners stay outside the gate before it leaves the object; "
        "and frames in a row an unjoined track lies nearer to an object's track than its camera's track there before "
        "it takes that one's place.",
        ge=1,
    )
    twin_iou: float = Field(
        0.7,
        title="Twin overlap",
        description="A track whose box overlaps a joined track of its camera in one frame this much (IoU) is that "
        "object too (a tracker that follows one object twice); 1 = never.",
        gt=0.0,
        le=1.0,
    )
    reorder_max_s: float = Field(
        1.0,
        title="Capture order wait",
        description="The cameras' frames are associated in capture order: a frame waits for the other cameras' "
        "older frames still in their pipelines, as long as the recent frames came late (learnt; health: "
        "association.hold_s), at most this long (s); 0 = in arrival order, no wait.",
        ge=0.0,
        le=10.0,
    )
    stale_s: float = Field(
        10.0, title="Forget after", description="A track heard nothing of for this long (s) is forgotten.", gt=0.0
    )
    default_error_m: float = Field(
        20.0, title="Default error", description="90 % radius (m) assumed for a fix without error_m.", gt=0.0
    )
