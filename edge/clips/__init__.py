"""Evidence clips: a ring of encoded video around new-track alerts, with MISB ST 0601 KLV metadata in MPEG-TS."""
