"""`python -m studio [--host 127.0.0.1] [--port 7860]`: start the studio and print its URL (make studio)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# Before gradio is imported: no usage statistics are sent, nothing is fetched from a network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MAX_FILE_SIZE = "4mb"  # pipeline.sketchset.MAX_UPLOAD_BYTES, enforced by the server before it reaches us


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the project root")
    ap.add_argument(
        "--state-dir",
        type=Path,
        default=os.environ.get("STUDIO_STATE_DIR"),
        help="the job state and caches (default: <root>/.studio; env STUDIO_STATE_DIR)",
    )
    args = ap.parse_args(argv)
    from studio.app import CSS, Studio, build

    studio = Studio(args.root, args.state_dir)
    app = build(studio)
    print(
        f"studio: http://{args.host}:{args.port}/  (Ctrl-C stops the studio; a running customization continues)",
        flush=True,
    )
    app.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        max_file_size=MAX_FILE_SIZE,
        allowed_paths=[str(studio.runner.dir)],
        show_error=True,
        css=CSS,
        quiet=True,
    )


if __name__ == "__main__":
    main()
