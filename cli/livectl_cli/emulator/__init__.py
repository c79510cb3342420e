"""Provider emulator: Volcengine Live and Tencent TRTC over real HTTP on one port (see docs/emulator.md)."""

from livectl_cli.emulator.server import Emulator

__all__ = ["Emulator"]
