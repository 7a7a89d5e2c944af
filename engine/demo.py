"""The demo study: generated on first use, deterministically, into the per-user data folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP_DIR_NAME = "FastMixStudio"


def user_data_dir() -> Path:
    """Per-user data folder: ``$FASTMIX_STUDIO_DATA`` or the platform's application data dir."""
    env = os.environ.get("FASTMIX_STUDIO_DATA")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / APP_DIR_NAME


def default_demo_dir() -> Path:
    """Where the demo study lives unless a folder is given."""
    return user_data_dir() / "demo"
