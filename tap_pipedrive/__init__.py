"""tap-pipedrive: a Singer tap for Pipedrive with pluggable authentication."""
