"""k2w: an embedded, durable job engine that turns search keywords into web articles."""
