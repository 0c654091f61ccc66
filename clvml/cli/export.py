"""``clvml export``: copy the champion model to models/ (scoring needs no tracking server)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from clvml.cli._app import app, console
from clvml.cli._options import TrustModel


@app.command()
def export(
    model_uri: Annotated[
        str, typer.Option(help="MLflow model URI (alias, version, run or logged model).")
    ] = "models:/clvml@champion",
    out: Annotated[Path, typer.Option("--out", "-o", help="Export folder.")] = Path("models/clvml"),
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else ./mlruns.db]."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace the export folder if it exists (refused otherwise)."
        ),
    ] = False,
    trust_model: TrustModel = False,
) -> None:
    """Write a registered model in MLflow's model format to a folder, checked to load and score."""
    from clvml.tracking.export import export_model

    result = export_model(
        model_uri, out, tracking_uri=tracking_uri, overwrite=overwrite, trust_model=trust_model
    )
    what = model_uri
    if result.version is not None:
        what += f" (version {result.version} of {result.registered_name}, run {result.run_id})"
    console.print(f"exported {escape(what)} to {escape(result.path)}", highlight=False)
    for k, v in sorted(result.metrics.items()):
        console.print(f"  {k} = {v:.4f}", highlight=False)
