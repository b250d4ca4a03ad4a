"""``heritage serve``: the HTTP API (:func:`api.app.create_app`) under uvicorn."""

from typing import Annotated, Any

import typer

from api.cli.common import err
from ledger.settings import load_settings

__all__ = ["SERVE_EXAMPLES", "serve_command"]

SERVE_EXAMPLES = """Examples:

  heritage serve                      # http://127.0.0.1:8000/, OpenAPI at /openapi.json
  heritage serve --port 8080
"""


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API of this data directory (docs/api.md)."""
    import uvicorn

    from api.app import create_app
    from api.http.events import close_streams

    settings = load_settings()
    app = create_app(settings)
    err.print(f"api: http://{host}:{port}/ (data directory {settings.data_dir})")

    class Server(uvicorn.Server):
        """uvicorn, ending the open event streams as soon as it is told to stop (it waits
        for every connection to end before it shuts the app down)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            close_streams(app)
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
