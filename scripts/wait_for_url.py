"""Wait until an HTTP server answers (any status) at the given URL; exit 1 after a timeout."""

import sys
import time
import urllib.error
import urllib.request

url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2] if len(sys.argv) > 2 else 30)
while True:
    try:
        urllib.request.urlopen(url, timeout=2)
        break
    except urllib.error.HTTPError:
        break  # the server answered
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"no answer from {url}")
        time.sleep(0.2)
