"""Run tags that say why an automated run ran."""

REASON_TAG = "trace_assets/reason"
OLD_FINGERPRINT_TAG = "trace_assets/old_fingerprint"
NEW_FINGERPRINT_TAG = "trace_assets/new_fingerprint"

SCHEDULE = "daily_schedule"
LATE_DATA = "late_data"
