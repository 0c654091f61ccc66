"""``clvml demo``: the main job on the bundled data."""

from __future__ import annotations

from clvml.cli._app import app, console


@app.command()
def demo() -> None:
    """Run the main job on the bundled CDNOW data and print the results."""
    from clvml.data.datasets import load_cdnow_sample

    tx = load_cdnow_sample()
    console.print(f"CDNOW sample: {len(tx):,} purchases of {tx['customer_id'].nunique():,} customers")
