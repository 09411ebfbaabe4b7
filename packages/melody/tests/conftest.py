import os
import tempfile

# Keep the parse / extraction caches of the test run apart from a user's cache (and reuse them across runs).
os.environ.setdefault("REGEN_CACHE", os.path.join(tempfile.gettempdir(), "regen-melody-test-cache"))
