"""coordssh: coordinate Claude Code workers over SSH, agentlessly."""

__version__ = "0.1.0"
