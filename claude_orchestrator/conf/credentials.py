"""The team's two ZooKeeper digest identities (DESIGN §3.9), as plain data.

- The **team** credential (``team:<random>``) controls everything. For the embedded server
  ``up`` generates it once into ``.claude-orchestrator/auth/team`` (0600, in a 0700 folder);
  an external ZooKeeper's comes from the variable ``auth = "env:VAR"`` names.
- The **agent** credential is derived from it: ``agent:`` + HMAC-SHA256(team password). Whoever
  holds the team credential can compute it; an agent given only the agent credential cannot go
  back. Nothing extra is stored, so there is nothing to lose or to race for when a tree is made.

Digest ids (``user:base64(sha1(user:password))``) are what ZooKeeper keeps in ACLs: they name an
identity without granting it, which is why an agent may be told the team's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from claude_orchestrator.errors import ConfigError

TEAM_USER = "team"
AGENT_USER = "agent"
_AGENT_KEY_LABEL = b"claude-orchestrator agent credential v1"


def auth_dir(state_dir: Path) -> Path:
    return state_dir / "auth"


def team_credential_file(state_dir: Path) -> Path:
    return auth_dir(state_dir) / "team"


def digest_id(credential: str) -> str:
    """The ACL id of ``user:password`` (the same as kazoo's make_digest_acl_credential)."""
    user, _, _ = credential.partition(":")
    digest = hashlib.sha1(credential.encode("utf-8")).digest()
    return f"{user}:{base64.b64encode(digest).decode('ascii')}"


def agent_credential(team_credential: str) -> str:
    """The agents' scoped credential, derived one way from the team credential."""
    _, _, password = team_credential.partition(":")
    mac = hmac.new(password.encode("utf-8"), _AGENT_KEY_LABEL, hashlib.sha256).digest()
    return f"{AGENT_USER}:{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def read_team_credential(state_dir: Path) -> str | None:
    """The embedded server's team credential, or None when none was generated yet."""
    try:
        text = team_credential_file(state_dir).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the team credential: {exc}") from None
    user, colon, password = text.partition(":")
    if not (user and colon and password):
        raise ConfigError(f"{team_credential_file(state_dir)}: not a user:password credential")
    return text


def ensure_team_credential(state_dir: Path) -> str:
    """Read the embedded server's team credential, generating it (0600) on first use."""
    found = read_team_credential(state_dir)
    if found is not None:
        return found
    folder = auth_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    import secrets  # only when a credential is made: it imports random

    credential = f"{TEAM_USER}:{secrets.token_urlsafe(32)}"
    try:  # O_EXCL: two racing `up`s agree on whichever file was made first
        fd = os.open(team_credential_file(state_dir), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return ensure_team_credential(state_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(credential + "\n")
    return credential
